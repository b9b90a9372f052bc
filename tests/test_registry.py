"""Plugin discovery: the static scan, the real import, and entry points."""

import importlib.util
import sys
import textwrap

import pytest

from phasebench import registry
from phasebench.errors import PluginError

from conftest import phasebench_cli

GOOD_MODEL = """
from phasebench import ModelPlugin


class Echo(ModelPlugin):
    name = "echo"
    family = "test"

    def __init__(self, spec, gain: float = 1.0, label: str = "x"):
        super().__init__(spec)
        self.gain = gain

    def forward(self, window):
        return self.gain * window
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_static_scan_finds_builtins_with_their_hyperparameters():
    models = registry.scan("models")
    assert {"resnet", "lstm"} <= set(models)
    resnet = models["resnet"]
    assert [(h.name, h.annotation, h.default) for h in resnet.hparams] == [
        ("width", "int", 64),
        ("depth", "int", 2),
    ]
    assert resnet.attrs["input_steps"] == 1 and resnet.attrs["output_steps"] == 1
    assert resnet.module == "plugins.models.resnet"
    systems = registry.scan("systems")
    assert systems["coupled_oscillator"].attrs["canonical"] is True


def test_subclasses_inherit_attributes_and_hyperparameters_of_a_local_base():
    performers = {k: v for k, v in registry.scan("models").items() if k.startswith("performer")}
    body = ["window", "depth", "heads", "embed", "ff_width"]
    # performer_relu has no __init__: its base's signature is its hyperparameters.
    assert [h.name for h in performers["performer_relu"].hparams] == body
    assert [h.name for h in performers["performer_favor"].hparams] == [
        *body,
        "m",
        "projection",
        "redraw_every",
    ]
    for info in performers.values():
        assert info.attrs["family"] == "transformer" and "abstract" not in info.attrs
    assert "_performer" not in {info.class_name.lower() for info in performers.values()}


WINDOW_TRANSFORMER = """
from phasebench.layers import WindowTransformerPlugin, transformer_layer


class Plain(WindowTransformerPlugin):
    name = "plain"

    def layer(self, width):
        return transformer_layer(width, self.heads, self.ff_width)


class Gated(WindowTransformerPlugin):
    name = "gated"

    def __init__(self, spec, use_bias: bool = False, heads: int = 4, **body):
        super().__init__(spec, use_bias=use_bias, heads=heads, **body)

    def layer(self, width, use_bias):
        return transformer_layer(width, self.heads, self.ff_width, use_bias=use_bias)
"""


def test_a_library_base_gives_its_hyperparameters_and_literals_to_a_plugin(tmp_path):
    # Before: the scan read only the plugin's own module, so each transformer plugin restated
    # the five-argument signature, family and hparam_schema of the body it shares.
    path = write(tmp_path / "plugins/models/window.py", WINDOW_TRANSFORMER)
    found = {i.name: i for i in registry.scan_file(path, "models", "plugins.models.window")}
    body = [("window", 3), ("depth", 2), ("heads", 2), ("embed", 16), ("ff_width", 32)]
    assert [(h.name, h.default) for h in found["plain"].hparams] == body
    # `**body` passes the base's on; an own argument of the same name overrides it.
    gated = [(h.name, h.default) for h in found["gated"].hparams]
    assert gated == [*body[:2], *body[3:], ("use_bias", False), ("heads", 4)]
    assert found["gated"].attrs["family"] == "transformer"
    assert found["gated"].attrs["hparam_schema"]["window"] == {"minimum": 1}
    # The real classes agree with the scan (what `plugins check` compares).
    spec = importlib.util.spec_from_file_location("window_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert list(module.Gated.hparam_defaults().items()) == gated
    assert list(module.Plain.hparam_defaults().items()) == body


@pytest.mark.parametrize("kind", ["systems", "models"])
def test_the_scan_reads_the_literals_the_imported_classes_have(kind):
    # A library base's own bases count: lennard_jones and the pair potentials take
    # particle_system, canonical and separable from ParticleSystem, two classes up.
    for name, info in registry.scan(kind).items():
        cls = registry.load_class(info)
        for key, value in info.attrs.items():
            if key != "abstract":
                assert getattr(cls, key) == value, f"{kind} {name}: {key}"
    if kind == "systems":
        particle = {n for n, i in registry.scan(kind).items() if i.attrs.get("particle_system")}
        assert {"lennard_jones", "nbody_charged", "gravity_nbody"} <= particle


def test_static_scan_does_not_import_torch():
    import subprocess

    code = (
        "import sys; from phasebench import registry, config, sources; registry.scan('models'); "
        "sources.Sources(registry.repo_root()).of('phasebench.training', 'phasebench.evaluation'); "
        "config.resolve({}); print('torch' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Nor scipy (before: config imported it through the integrators, ~1 s of every parse).
    assert out.stdout.strip() == "False False"


def test_syntax_error_is_reported_with_file_and_line(tmp_path):
    path = write(tmp_path / "broken.py", "class A(ModelPlugin):\n    name = 'a'\n    def f(:\n")
    with pytest.raises(PluginError, match=rf"^{path}:3: syntax error"):
        registry.scan_file(path, "models", "x")


def test_module_without_plugin_class_is_an_error(tmp_path):
    path = write(tmp_path / "empty.py", "X = 1\n")
    with pytest.raises(PluginError, match=rf"{path}:1: no plugin class found.*ModelPlugin"):
        registry.scan_file(path, "models", "x")


def test_plugin_without_literal_name_is_an_error(tmp_path):
    path = write(tmp_path / "noname.py", "class A(ModelPlugin):\n    family = 'x'\n")
    with pytest.raises(PluginError, match=rf"{path}:1: plugin class A needs a literal name"):
        registry.scan_file(path, "models", "x")


@pytest.mark.parametrize(
    ("kind", "name", "problem"),
    [
        ("models", "a b/c", "model name 'a b/c' is not path-safe: use letters, digits and"),
        ("models", "..", "model name '..' is not path-safe"),
        ("models", "numerical", "model name 'numerical' is reserved (results/eval/{system}/"),
        ("systems", "index", "system name 'index' is reserved (results/reports/index.html"),
        ("systems", "completed.txt", "system name 'completed.txt' is reserved (results/runs/"),
    ],
)
def test_plugin_names_must_be_path_safe_and_not_reserved(tmp_path, kind, name, problem):
    base = registry.KINDS[kind]
    path = write(tmp_path / "odd.py", f"class A({base}):\n    name = {name!r}\n")
    with pytest.raises(PluginError) as caught:
        registry.scan_file(path, kind, "x")
    assert str(caught.value).startswith(f"{path}:1: plugin class A: {problem}")


def test_hyperparameter_without_default_is_an_error(tmp_path):
    source = "class A(ModelPlugin):\n    name = 'a'\n    def __init__(self, spec, width: int):\n"
    path = write(tmp_path / "nodefault.py", source + "        pass\n")
    with pytest.raises(PluginError, match=r"nodefault.py:3: hyperparameter 'width' .* no default"):
        registry.scan_file(path, "models", "x")


def test_duplicate_names_are_reported(tmp_path):
    write(tmp_path / "plugins/models/a.py", GOOD_MODEL)
    write(tmp_path / "plugins/models/b.py", GOOD_MODEL)
    plugins, problems = registry.discover("models", tmp_path)
    assert set(plugins) == {"echo"}
    assert len(problems) == 1 and "name 'echo' is already used by" in problems[0]


def test_broken_plugin_does_not_hide_the_others(tmp_path):
    write(tmp_path / "plugins/models/good.py", GOOD_MODEL)
    write(tmp_path / "plugins/models/bad.py", "def (\n")
    plugins, problems = registry.discover("models", tmp_path)
    assert set(plugins) == {"echo"}
    assert problems == [f"{tmp_path / 'plugins/models/bad.py'}:1: syntax error: invalid syntax"]
    with pytest.raises(PluginError, match="bad.py:1"):
        registry.scan("models", tmp_path)


def test_import_failure_is_named_by_plugins_check(workflow_copy):
    body = GOOD_MODEL.replace("from phasebench", "import not_a_real_dependency\nfrom phasebench")
    write(workflow_copy / "plugins/models/needs_dep.py", body)
    result = phasebench_cli("plugins", "check", root=workflow_copy)
    assert result.returncode == 1
    assert "ok   model  resnet" in result.stdout
    assert (
        f"FAIL model  echo: {workflow_copy}/plugins/models/needs_dep.py:6: import failed: "
        "ModuleNotFoundError: No module named 'not_a_real_dependency'" in result.stdout
    )


def test_plugins_check_reports_a_syntax_error_and_passes_when_all_are_good(workflow_copy):
    assert phasebench_cli("plugins", "check", root=workflow_copy).returncode == 0
    write(workflow_copy / "plugins/models/typo.py", "class X(ModelPlugin)\n")
    result = phasebench_cli("plugins", "check", root=workflow_copy)
    assert result.returncode == 1
    assert f"{workflow_copy}/plugins/models/typo.py:1: syntax error" in result.stdout


def test_plugins_list_names_every_plugin_and_where_it_lives():
    result = phasebench_cli("plugins", "list")
    assert result.returncode == 0
    for name, path in [("resnet", "resnet.py"), ("lstm", "lstm.py"), ("coupled_oscillator", "")]:
        line = next(line for line in result.stdout.splitlines() if line.split()[:1] == [name])
        assert path in line


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch):
    """A real installed distribution (a .dist-info on sys.path) registering a model."""
    write(tmp_path / "site/extra_models/echo_model.py", GOOD_MODEL.replace('"echo"', '"ep_echo"'))
    write(tmp_path / "site/extra_models/__init__.py", "")
    write(
        tmp_path / "site/extra_models-1.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: extra-models\nVersion: 1.0\n",
    )
    write(
        tmp_path / "site/extra_models-1.0.dist-info/entry_points.txt",
        "[phasebench.models]\nep_echo = extra_models.echo_model:Echo\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    models = registry.scan("models")
    info = models["ep_echo"]
    assert info.origin.startswith("entry point ep_echo")
    assert [h.name for h in info.hparams] == ["gain", "label"]
    cls = registry.load_class(info)
    assert cls.name == "ep_echo"
    assert {"resnet", "lstm"} <= set(models)  # the folder plugins are still there

"""`phasebench plugins check` builds each model for every compatible system and checks the
shapes of `forward` and `rollout`; it checks the checkout it is run in; evaluation rolls a
plugin out without gradients."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from phasebench.evaluation import _model_predictor
from phasebench.model import ModelPlugin
from phasebench.scaffold import render
from phasebench.spec import SystemSpec

from conftest import FLAT_FORWARD, REPO, TWO_STEPS_FORWARD, make_checkout, tool_env

# Returns the predicted states only, without the given window: two steps short of the contract.
SHORT_ROLLOUT = """
import torch

from phasebench import ModelPlugin


class ShortRollout(ModelPlugin):
    name = "short_rollout"
    input_steps = output_steps = 2

    def __init__(self, spec, gain: float = 1.0):
        super().__init__(spec)
        self.gain = torch.nn.Parameter(torch.tensor(gain))

    def forward(self, window):
        return self.gain * window

    def rollout(self, window, n_steps):
        full = super().rollout(window, n_steps)
        return full[:, self.input_steps :]
"""

# Written for four coordinates: fine on coupled_oscillator, broken on pendulum.
FOUR_ONLY = """
from torch import nn

from phasebench import ModelPlugin


class FourOnly(ModelPlugin):
    name = "four_only"

    def __init__(self, spec):
        super().__init__(spec)
        self.net = nn.Linear(4, 4)

    def forward(self, window):
        return window + self.net(window)
"""

# Canonical systems only; it cannot even be built for another, and its rollout must run
# without gradients.
CANONICAL_ONLY = """
import torch

from phasebench import ModelPlugin


class CanonicalOnly(ModelPlugin):
    name = "canonical_only"
    requires = ("canonical",)

    def __init__(self, spec, width: int = 8):
        super().__init__(spec)
        if not spec.canonical:
            raise ValueError("needs (q, p)")
        self.net = torch.nn.Linear(spec.dim, spec.dim)

    def forward(self, window):
        return window + self.net(window)

    def rollout(self, window, n_steps):
        if torch.is_grad_enabled():
            raise RuntimeError("rollout called with gradients on")
        return super().rollout(window, n_steps)
"""

# A misspelt capability: no system has it, so the pipeline would skip the model everywhere.
MISSPELT_REQUIRES = """
from phasebench import ModelPlugin


class Misspelt(ModelPlugin):
    name = "misspelt"
    requires = ("canonnical",)

    def forward(self, window):
        return window
"""

# Two families: the pipeline's family budgets and `plugins list` need one string.
FAMILY_LIST = """
from phasebench import ModelPlugin


class TwoFamilies(ModelPlugin):
    name = "two_families"
    family = ["transformer", "recurrent"]

    def forward(self, window):
        return window
"""


def plugins_check(cwd, root=None) -> subprocess.CompletedProcess:
    """The `phasebench plugins check` of a user in `cwd` (PHASEBENCH_ROOT = `root` if given)."""
    return plugins_command(cwd, "check", root=root)


def plugins_command(cwd, *args, root=None) -> subprocess.CompletedProcess:
    """`phasebench plugins ARGS` run by a user in `cwd` (PHASEBENCH_ROOT = `root` if given)."""
    env = tool_env()
    if root is not None:
        env["PHASEBENCH_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "phasebench", "plugins", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def line_of(result: subprocess.CompletedProcess, plugin: str) -> str:
    return next(
        line
        for line in result.stdout.splitlines()
        if line.split()[2:3] in ([plugin], [plugin + ":"])
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """A checkout holding the models above, checked from its own folder."""
    root = make_checkout(
        tmp_path_factory.mktemp("checkout"),
        {
            "short_rollout.py": SHORT_ROLLOUT,
            "four_only.py": FOUR_ONLY,
            "canonical_only.py": CANONICAL_ONLY,
            "misspelt.py": MISSPELT_REQUIRES,
            "two_families.py": FAMILY_LIST,
            "flat.py": FLAT_FORWARD,
            "two_steps.py": TWO_STEPS_FORWARD,
        },
    )
    return root, plugins_check(root)


def test_a_rollout_without_the_given_window_is_named_with_file_system_and_shapes(checked):
    root, result = checked
    assert result.returncode == 1
    assert line_of(result, "short_rollout") == (
        f"FAIL model  short_rollout: {root}/plugins/models/short_rollout.py:7: on system "
        "coupled_oscillator (dim 4): rollout(window (2, 2, 4), 5) returned (2, 5, 4), not "
        "(2, 7, 4): the 2 given state(s) followed by the 5 predicted ones"
    )


@pytest.mark.parametrize(
    ("plugin", "line", "returned"),
    [("flat", 7, "(2, 4)"), ("two_steps", 8, "(2, 2, 4)")],
)
def test_a_forward_of_the_wrong_shape_is_named_with_both_shapes(checked, plugin, line, returned):
    root, result = checked
    assert line_of(result, plugin) == (
        f"FAIL model  {plugin}: {root}/plugins/models/{plugin}.py:{line}: on system "
        f"coupled_oscillator (dim 4): forward of a window (2, 1, 4) returned {returned}, not "
        "(2, 1, 4) (batch, output_steps, dim)"
    )


def test_a_forward_written_for_one_dimension_fails_on_another_system(checked):
    root, result = checked
    line = line_of(result, "four_only")
    assert line.startswith(
        f"FAIL model  four_only: {root}/plugins/models/four_only.py:7: on system pendulum "
        "(dim 2): building it or calling forward failed: RuntimeError("
    )


def test_requires_limits_the_systems_and_rollout_runs_without_gradients(checked):
    _, result = checked
    assert line_of(result, "canonical_only") == (
        "ok   model  canonical_only (on 2 system(s); requires canonical, so not on rigid_body)"
    )
    for system in ("coupled_oscillator", "pendulum", "rigid_body"):
        assert f"ok   system {system}" in result.stdout


def test_a_misspelt_requirement_is_an_error(checked):
    root, result = checked
    assert line_of(result, "misspelt") == (
        f"FAIL model  misspelt: {root}/plugins/models/misspelt.py:5: requires = ('canonnical',), "
        "but it takes a tuple of 'canonical' and/or 'particles' (the "
        "capabilities a system may have)"
    )


def test_a_family_must_be_one_string(checked):
    root, result = checked
    assert line_of(result, "two_families") == (
        f"FAIL model  two_families: {root}/plugins/models/two_families.py:5: family = "
        "['transformer', 'recurrent']: give one string (reports show it, "
        "sweeps.budget_per_family counts by it)"
    )


def test_the_checkout_in_the_working_directory_is_checked(checked):
    root, result = checked
    assert result.stdout.splitlines()[0] == (
        f"checking {root}/plugins (and installed entry points)"
    )
    assert "resnet" not in result.stdout  # not the installed package's checkout
    assert result.stdout.splitlines()[-1] == "6 broken plugin(s)"


def test_phasebench_root_wins_over_the_working_directory(checked, tmp_path):
    here, _ = checked
    other = make_checkout(tmp_path, {"canonical_only.py": CANONICAL_ONLY})
    result = plugins_check(here, root=other)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"checking {other}/plugins (and installed entry points)"
    assert "short_rollout" not in result.stdout
    assert result.stdout.splitlines()[-1] == "all plugins ok"


def test_plugins_new_writes_a_model_and_a_system_that_pass_the_check(tmp_path):
    root = make_checkout(tmp_path, {})
    for kind, name in (("model", "my_net"), ("system", "my_oscillator")):
        made = plugins_command(root, "new", kind, name)
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith(f"wrote {root}/plugins/{kind}s/{name}.py;")
    result = plugins_check(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result, "my_net").startswith("ok   model  my_net (on 4 system(s)")
    assert "ok   system my_oscillator" in result.stdout
    listed = plugins_command(root, "list")
    first = listed.stdout.splitlines()[0]
    assert first == f"plugins of {root}/plugins (and installed entry points)"
    assert "my_net" in listed.stdout and "resnet" not in listed.stdout  # this checkout's


def test_plugins_new_refuses_names_that_cannot_be_plugin_modules(tmp_path):
    root = make_checkout(tmp_path, {"nets.py": render("models", "taken")})
    assert plugins_command(root, "new", "model", "my_net").returncode == 0
    for kind, name, message in [
        ("model", "my_net", f"{root}/plugins/models/my_net.py exists already"),
        ("model", "my-net", "model name 'my-net' must be a Python module name"),
        ("model", "all", "model name 'all' is reserved"),
        ("model", "taken", f"model name 'taken' is already used by {root}/plugins/models/nets.py"),
    ]:
        result = plugins_command(root, "new", kind, name)
        assert result.returncode == 2 and result.stderr.startswith(f"phasebench: {message}")
        assert len(result.stderr.splitlines()) == 1


def test_the_model_template_is_the_readme_example_and_resnet():
    text = render("models", "resnet", "ResNet")
    assert text == (REPO / "plugins/models/resnet.py").read_text()
    assert f"# plugins/models/resnet.py\n{text}```" in (REPO / "README.md").read_text()


class GradientRecorder(ModelPlugin):
    """Overrides `rollout` without `torch.no_grad()` and records whether gradients were on."""

    name = "gradient_recorder"

    def __init__(self, spec):
        super().__init__(spec)
        self.net = torch.nn.Linear(spec.dim, spec.dim)
        self.grad_enabled = []

    def forward(self, window):
        return window + self.net(window)

    def rollout(self, window, n_steps):
        self.grad_enabled.append(torch.is_grad_enabled())
        states = [window]
        for _ in range(n_steps):
            states.append(self(states[-1]))
        return torch.cat(states, dim=1)


def test_evaluation_rolls_a_plugin_out_without_gradients():
    model = GradientRecorder(SystemSpec("test", 2, ("q", "p"), True, 0.1))
    truth = np.random.default_rng(0).standard_normal((3, 6, 2))
    prediction, _, calls, given = _model_predictor(model)(truth, {})
    assert model.grad_enabled == [False]
    assert prediction.shape == truth.shape and calls == 5 and given == 1

"""`phasebench plugins check`: import every plugin and exercise its contract.

Systems are checked first; each model plugin is then built for the `SystemSpec` of every
working system that it is compatible with (its `requires`, judged as the pipeline judges them),
and its `forward` and `rollout` are called there and their shapes checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from phasebench import registry
from phasebench.errors import PluginError
from phasebench.model import ModelPlugin, roll_out
from phasebench.spec import SystemSpec, missing_capabilities, system_capabilities
from phasebench.system import System

BATCH = 2
ROLLOUT_STEPS = 5
# Every capability a system can have, so every value `requires` may name.
CAPABILITIES = sorted(system_capabilities(True, particles=True))


def system_spec(system: System) -> SystemSpec:
    """What a model trained on this system's data is told (as `spec.spec_from_store`), at
    the system's default `dt`."""
    names = tuple(system.state_names)
    particles = {}
    if system.particle_system:
        particles = {
            "particles": system.particles,
            "space_dim": system.space_dim,
            "feature_names": tuple(system.feature_names),
            "box": tuple(getattr(system, "box", ())),
        }
    return SystemSpec(
        system.name, len(names), names, bool(system.canonical), system.default_dt, **particles
    )


def _shape(value) -> tuple | str:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _exercise(cls: type, info: registry.PluginInfo, spec: SystemSpec) -> None:
    """Build `cls` for `spec`; `forward` one window, then `rollout` from it without gradients."""
    on = f"{info.where}: on system {spec.name} (dim {spec.dim})"
    gen = torch.Generator().manual_seed(0)
    try:
        model = cls(spec)
        window = torch.randn(BATCH, model.input_steps, spec.dim, generator=gen)
        features = None
        if model.takes_features:
            shape = (BATCH, spec.particles, len(spec.feature_names))
            features = torch.randn(*shape, generator=gen)
        given = window.clone()
        out = model.step(window, features)
    except Exception as err:
        raise PluginError(f"{on}: building it or calling forward failed: {err!r}") from err
    expected = (BATCH, model.output_steps, spec.dim)
    if _shape(out) != expected:
        raise PluginError(
            f"{on}: forward of a window {tuple(window.shape)} returned {_shape(out)}, not "
            f"{expected} (batch, output_steps, dim)"
        )
    if not torch.equal(window, given):
        raise PluginError(
            f"{on}: forward changed its input window in place (rollout passes it views of "
            "its own output)"
        )
    k, n = model.input_steps, ROLLOUT_STEPS
    try:
        with torch.no_grad():
            path = roll_out(model.eval(), window, n, features)
    except Exception as err:
        raise PluginError(f"{on}: rollout(window, {n}) failed: {err!r}") from err
    expected = (BATCH, k + n, spec.dim)
    if _shape(path) != expected:
        raise PluginError(
            f"{on}: rollout(window {tuple(window.shape)}, {n}) returned {_shape(path)}, not "
            f"{expected}: the {k} given state(s) followed by the {n} predicted ones"
        )
    if not torch.equal(path[:, :k], given):
        raise PluginError(
            f"{on}: rollout(window, {n}) must begin with the {k} given state(s) unchanged; "
            "its first states differ from the window"
        )


def check_model(info: registry.PluginInfo, specs: list[SystemSpec]) -> str:
    """Check one model plugin on every compatible system of `specs`; says which were used."""
    cls = registry.load_class(info)
    if not issubclass(cls, ModelPlugin):
        raise PluginError(f"{info.where}: {info.class_name} is not a phasebench.ModelPlugin")
    declared = [h.name for h in info.hparams]
    actual = list(cls.hparam_defaults())
    if declared != actual:
        raise PluginError(f"{info.where}: __init__ hyperparameters {actual} differ from {declared}")
    # The pipeline reads these from the source (config.resolve), the jobs from the class.
    for key in ("family", "requires"):
        scanned, real = info.attrs.get(key, getattr(ModelPlugin, key)), getattr(cls, key)
        sequences = all(isinstance(v, tuple | list) for v in (scanned, real))
        if scanned != real and not (sequences and tuple(scanned) == tuple(real)):
            raise PluginError(
                f"{info.where}: {key} is {real!r} but the source scan reads {scanned!r}; "
                "write it as a literal in the class body"
            )
    if not (isinstance(cls.family, str) and cls.family):
        raise PluginError(
            f"{info.where}: family = {cls.family!r}: give one string (reports show it, "
            "sweeps.budget_per_family counts by it)"
        )
    raw = info.attrs.get("requires", ())
    if not (isinstance(raw, tuple | list) and all(r in CAPABILITIES for r in raw)):
        raise PluginError(
            f"{info.where}: requires = {raw!r}, but it takes a tuple of "
            f"{' and/or '.join(map(repr, CAPABILITIES))} (the capabilities a system may have)"
        )
    # As config.resolve: the statically scanned `requires` against the system's capabilities.
    requires = sorted(raw)
    compatible, skipped = [], []
    for spec in specs:
        missing = missing_capabilities(requires, spec.capabilities)
        (skipped if missing else compatible).append(spec)
    for spec in compatible:
        _exercise(cls, info, spec)
    detail = f"on {len(compatible)} system(s)"
    if skipped:
        lacking = ", ".join(spec.name for spec in skipped)
        detail += f"; requires {' and '.join(requires)}, so not on {lacking}"
    return detail


def check_system(info: registry.PluginInfo) -> SystemSpec:
    cls = registry.load_class(info)
    if not issubclass(cls, System):
        raise PluginError(f"{info.where}: {info.class_name} is not a phasebench.System")
    try:
        system = cls()
        if system.particle_system:
            system = system.with_features(system.sample_features(np.random.default_rng(1), 3))
        x = system.sample_initial(np.random.default_rng(0), 3)
        energy, field = system.hamiltonian(x), system.vector_field(x)
        spec = system_spec(system)
    except Exception as err:
        raise PluginError(f"{info.where}: sampling or evaluating it failed: {err!r}") from err
    if x.shape != (3, system.dim) or energy.shape != (3,) or field.shape != x.shape:
        raise PluginError(
            f"{info.where}: shapes of sample_initial {x.shape}, hamiltonian {energy.shape} and "
            f"vector_field {field.shape} do not fit dimension {system.dim}"
        )
    return spec


def check_all(root: Path | None = None) -> list[tuple[str, str, str | None, str]]:
    """(kind, plugin or file, problem or None, detail) for every plugin of `root` (the checked
    repository by default), broken ones included: systems first, then each model on every
    working system it is compatible with (the detail says which)."""
    root = root or registry.working_root()
    # Batches of 2 through small models: more threads only wait for each other (33 s instead
    # of 4 s for the built-ins on a busy 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _check_kinds(root)
    finally:
        torch.set_num_threads(threads)


def _check_kinds(root: Path) -> list[tuple[str, str, str | None, str]]:
    results, specs = [], []
    for kind in ("systems", "models"):
        plugins, problems = registry.discover(kind, root)
        results += [(kind, problem.split(":")[0], problem, "") for problem in problems]
        for name, info in plugins.items():
            try:
                if kind == "systems":
                    specs.append(check_system(info))
                    results.append((kind, name, None, ""))
                else:
                    results.append((kind, name, None, check_model(info, specs)))
            except PluginError as err:
                results.append((kind, name, str(err), ""))
    return results

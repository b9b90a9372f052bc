"""`phasebench plugins check`: import every plugin and exercise its contract once."""

from __future__ import annotations

import numpy as np
import torch

from phasebench import registry
from phasebench.errors import PluginError
from phasebench.model import ModelPlugin
from phasebench.spec import SystemSpec
from phasebench.system import System

# A system every model can be built for: canonical, even dimension.
PROBE_SPEC = SystemSpec("probe", 4, ("q1", "q2", "p1", "p2"), True, 0.1)


def check_model(info: registry.PluginInfo) -> None:
    cls = registry.load_class(info)
    if not issubclass(cls, ModelPlugin):
        raise PluginError(f"{info.where}: {info.class_name} is not a phasebench.ModelPlugin")
    declared = [h.name for h in info.hparams]
    actual = list(cls.hparam_defaults())
    if declared != actual:
        raise PluginError(f"{info.where}: __init__ hyperparameters {actual} differ from {declared}")
    try:
        model = cls(PROBE_SPEC)
        window = torch.randn(2, model.input_steps, PROBE_SPEC.dim)
        out = model(window)
    except Exception as err:
        raise PluginError(f"{info.where}: building or calling it failed: {err!r}") from err
    expected = (2, model.output_steps, PROBE_SPEC.dim)
    if tuple(out.shape) != expected:
        raise PluginError(
            f"{info.where}: forward returned shape {tuple(out.shape)}, not {expected}"
        )


def check_system(info: registry.PluginInfo) -> None:
    cls = registry.load_class(info)
    if not issubclass(cls, System):
        raise PluginError(f"{info.where}: {info.class_name} is not a phasebench.System")
    try:
        system = cls()
        x = system.sample_initial(np.random.default_rng(0), 3)
        energy, field = system.hamiltonian(x), system.vector_field(x)
    except Exception as err:
        raise PluginError(f"{info.where}: sampling or evaluating it failed: {err!r}") from err
    if x.shape != (3, system.dim) or energy.shape != (3,) or field.shape != x.shape:
        raise PluginError(
            f"{info.where}: shapes of sample_initial {x.shape}, hamiltonian {energy.shape} and "
            f"vector_field {field.shape} do not fit dimension {system.dim}"
        )


CHECKS = {"models": check_model, "systems": check_system}


def check_all() -> list[tuple[str, str, str | None]]:
    """(kind, plugin or file, problem or None) for every plugin, broken ones included."""
    results = []
    for kind, check in CHECKS.items():
        plugins, problems = registry.discover(kind)
        results += [(kind, problem.split(":")[0], problem) for problem in problems]
        for name, info in plugins.items():
            try:
                check(info)
                results.append((kind, name, None))
            except PluginError as err:
                results.append((kind, name, str(err)))
    return results

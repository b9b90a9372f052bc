"""`phasebench plugins new`: a new model or system plugin module, written from a template that
passes `phasebench plugins check` as it stands. The model template is the README's example
(`plugins/models/resnet.py` is it, rendered for `resnet`; a test keeps the three equal)."""

from __future__ import annotations

import keyword
from pathlib import Path
from string import Template

from phasebench import registry
from phasebench.errors import PluginError

TEMPLATES = {
    "models": Template('''\
"""One-step residual map x_{n+1} = x_n + MLP(x_n), iterated for rollouts."""

from itertools import pairwise

from torch import nn

from phasebench import ModelPlugin


class $cls(ModelPlugin):
    name = "$name"
    family = "feed-forward"
    input_steps = output_steps = 1
    hparam_schema = {"width": {"minimum": 1}, "depth": {"minimum": 1}}  # checked by validation

    def __init__(self, spec, width: int = 64, depth: int = 2):
        super().__init__(spec)
        sizes = [spec.dim] + [width] * depth
        hidden = [m for a, b in pairwise(sizes) for m in (nn.Linear(a, b), nn.Tanh())]
        self.net = nn.Sequential(*hidden, nn.Linear(sizes[-1], spec.dim))

    def forward(self, window):  # (B, 1, D) -> (B, 1, D)
        return window + self.net(window)
'''),
    "systems": Template('''\
"""A harmonic oscillator, H = p²/(2m) + k q²/2: a template to replace by your system's H, its
vector field J∇H and the sampling of initial states."""

import numpy as np

from phasebench import System


class $cls(System):
    name = "$name"
    state_names = ("q", "p")
    canonical = True
    separable = True
    # Separable: a symplectic splitting keeps the energy bounded over long runs.
    default_integrator = "yoshida4"
    default_dt = 0.1
    parameters = {"m": 1.0, "k": 1.0}

    def hamiltonian(self, x):  # arithmetic (or self.xp(x)) only: it also takes torch tensors
        q, p = x[..., 0], x[..., 1]
        return p**2 / (2 * self.params["m"]) + self.params["k"] * q**2 / 2

    def vector_field(self, x):  # (dq/dt, dp/dt) = (∂H/∂p, −∂H/∂q)
        q, p = x[..., 0], x[..., 1]
        return np.stack([p / self.params["m"], -self.params["k"] * q], axis=-1)

    def _ring(self, rng, n, low, high):
        radius, angle = rng.uniform(low, high, size=n), rng.uniform(0, 2 * np.pi, size=n)
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)

    def sample_initial(self, rng, n):
        return self._ring(rng, n, 0.5, 1.0)

    def sample_ood(self, rng, n):  # the test_ood split: amplitudes never seen in training
        return self._ring(rng, n, 1.5, 2.0)
'''),
}


def class_name(name: str) -> str:
    """`my_net` -> `MyNet`."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Plugin"


def render(kind: str, name: str, cls: str | None = None) -> str:
    return TEMPLATES[kind].substitute(name=name, cls=cls or class_name(name))


def new_plugin(kind: str, name: str, root: Path) -> Path:
    """Write `plugins/<kind>/<name>.py` of `root` from the template; refuses a name that cannot
    be a plugin and module name, or that is taken."""
    what = kind[:-1]
    if problem := registry.name_problem(kind, name):
        raise PluginError(problem)
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise PluginError(
            f"{what} name '{name}' must be a Python module name (letters, digits and _, not "
            "starting with a digit or _): the plugin is the module plugins/"
            f"{kind}/{name}.py"
        )
    path = root / "plugins" / kind / f"{name}.py"
    if path.exists():
        raise PluginError(f"{path} exists already; choose another name or edit that file")
    plugins, _ = registry.discover(kind, root)
    if name in plugins:
        raise PluginError(
            f"{what} name '{name}' is already used by {plugins[name].where}; choose another"
        )
    path.write_text(render(kind, name))
    return path

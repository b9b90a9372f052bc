"""Base class of model plugins (`plugins/models/*.py`)."""

import contextlib
import inspect
from typing import ClassVar

import torch
from torch import nn

from phasebench.errors import PluginError
from phasebench.spec import SystemSpec


class ModelPlugin(nn.Module):
    """A learned time stepper: `forward(window (B, input_steps, D)) -> (B, output_steps, D)`.

    Subclasses set, as literals (the registry reads them without importing): `name`, `family`,
    `input_steps`, `output_steps` and `requires` (system capabilities such as "canonical"), and
    take their hyperparameters as keyword arguments with defaults: `__init__(self, spec, ...)`.

    A plugin that requires "particles" is given each trajectory's particle features too:
    `forward(window, features (B, particles, n_features))`; the others see states only.
    """

    abstract = True
    name: ClassVar[str]
    family: ClassVar[str] = "other"
    input_steps: ClassVar[int] = 1
    output_steps: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: SystemSpec):
        super().__init__()
        self.spec = spec

    @classmethod
    def hparam_defaults(cls) -> dict:
        """Hyperparameters and defaults, read from the `__init__` signature: the named
        arguments after (self, spec); *args and **kwargs are passed through, not hyperparameters."""
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = list(inspect.signature(cls.__init__).parameters.values())[2:]
        return {p.name: p.default for p in params if p.kind in named}

    @property
    def takes_features(self) -> bool:
        return "particles" in self.requires

    def step(self, window: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """`forward`, with the particle features where the plugin takes them."""
        return self(window, features) if self.takes_features else self(window)

    @torch.no_grad()
    def rollout(
        self, window: torch.Tensor, n_steps: int, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Autoregressive prediction of `n_steps` states after `window (B, input_steps, D)`
        (with the particle features `(B, particles, F)` of a particle model).

        Returns `(B, input_steps + n_steps, D)`, the given window included.
        """
        batch, k, dim = window.shape
        total = k + n_steps
        out = window.new_empty(batch, total, dim)
        out[:, :k] = window
        t = k
        while t < total:
            nxt = self.step(out[:, t - self.input_steps : t], features)
            take = min(nxt.shape[1], total - t)
            out[:, t : t + take] = nxt[:, :take]
            t += take
        return out


def roll_out(model: ModelPlugin, window, n_steps: int, features=None) -> torch.Tensor:
    """`model.rollout`, given the particle features only where the plugin takes them (a plugin
    that overrides `rollout` for states alone keeps working)."""
    if model.takes_features:
        return model.rollout(window, n_steps, features)
    return model.rollout(window, n_steps)


def precision_dtype(precision) -> torch.dtype:
    """The weights' dtype of a training `precision` setting: float64 for "64", else float32."""
    return torch.float64 if str(precision) in ("64", "64-true") else torch.float32


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_model(
    plugin: str, spec: SystemSpec, hparams: dict, dtype: torch.dtype = torch.float32
) -> ModelPlugin:
    """Instantiate a registered model plugin; a failure inside it names the plugin.

    The weights are made in `dtype` from the start: a model made in float32 and cast to float64
    keeps float32 rounding where weights are derived, e.g. in the orthonormal (Stiefel)
    parametrisation's stored base (PᵀP − I of 1e-7 instead of 1e-16).
    """
    from phasebench.registry import plugin_class

    cls = plugin_class("models", plugin)
    if not (isinstance(cls, type) and issubclass(cls, ModelPlugin)):
        raise PluginError(f"model plugin '{plugin}': {cls!r} is not a phasebench.ModelPlugin")
    try:
        with default_dtype(dtype):
            return cls(spec, **hparams)
    except Exception as err:
        raise PluginError(
            f"model plugin '{plugin}' failed to build with {hparams}: {type(err).__name__}: {err}"
        ) from err


def sliding_windows(states: torch.Tensor, length: int) -> torch.Tensor:
    """Every run of `length` consecutive states of `(n, T, D)` trajectories: `(n·(T−length+1),
    length, D)`; training and evaluation cut their windows the same way."""
    return states.unfold(1, length, 1).permute(0, 1, 3, 2).reshape(-1, length, states.shape[-1])

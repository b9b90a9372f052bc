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
    Optional: `hparam_schema`, a JSON Schema per hyperparameter that config validation applies
    (e.g. `{"width": {"minimum": 1}}`). A hyperparameter `window` is taken to set input_steps =
    output_steps = window, and `heads` to have to divide `embed` (or, without one, the state's
    dimension): validation checks both against each system.

    A plugin that requires "particles" is given each trajectory's particle features too:
    `forward(window, features (B, particles, n_features))`; the others see states only.
    """

    abstract = True
    name: ClassVar[str]
    family: ClassVar[str] = "other"
    input_steps: ClassVar[int] = 1
    output_steps: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ()
    hparam_schema: ClassVar[dict[str, dict]] = {}

    def __init__(self, spec: SystemSpec):
        super().__init__()
        self.spec = spec

    @classmethod
    def hparam_defaults(cls) -> dict:
        """Hyperparameters and defaults, read from the `__init__` signature: the named
        arguments after (self, spec). `**kwargs` passes the base class's on, which come first
        (as the registry's static scan reads them)."""
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = list(inspect.signature(cls.__init__).parameters.values())[2:]
        own = {p.name: p.default for p in params if p.kind in named}
        if all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params):
            return own
        owner = next(k for k in cls.__mro__ if "__init__" in vars(k))
        base = next(k for k in owner.__mro__[1:] if "__init__" in vars(k))
        if not (isinstance(base, type) and issubclass(base, ModelPlugin)):
            return own
        inherited = base.hparam_defaults()
        return {**{k: v for k, v in inherited.items() if k not in own}, **own}

    def diagnostics(self) -> dict:
        """Numbers a plugin records about its own computation, e.g. implicit solves that did
        not converge (`hnn`); evaluation and `train.json` keep them under `diagnostics`."""
        return {}

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
            given = out[:, t - self.input_steps : t]
            nxt = check_output(self, given, self.step(given, features))
            take = min(nxt.shape[1], total - t)
            out[:, t : t + take] = nxt[:, :take]
            t += take
        return out


def plugin_label(model: nn.Module) -> str:
    """`model plugin 'name' (path/to/module.py)`, to name a plugin in an error."""
    try:
        where = f" ({inspect.getsourcefile(type(model))})"
    except TypeError:  # a class without a source file
        where = ""
    return f"model plugin '{getattr(model, 'name', type(model).__name__)}'{where}"


def check_output(model: ModelPlugin, window: torch.Tensor, out) -> torch.Tensor:
    """`out` of `model(window)` if it is `(batch, output_steps, dim)`; else one sentence.
    Without this a `(B, D)` or a longer output broadcasts in the loss and trains silently."""
    expected = (window.shape[0], model.output_steps, window.shape[-1])
    actual = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if actual != expected:
        raise PluginError(
            f"{plugin_label(model)}: forward of a window {tuple(window.shape)} returned "
            f"{actual}, but it must return {expected} (batch, output_steps = "
            f"{model.output_steps}, dim)"
        )
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
    keeps float32 rounding where weights are derived (the Stiefel projections of
    `MultiHeadAttention` re-orthonormalise their stored base on a cast; a plugin's own derived
    weights may not)."""
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

"""Base class of system plugins (`plugins/systems/*.py`). States are arrays `(..., D)` in
float64, coordinates ordered (q, p) for canonical systems."""

import copy
from typing import Any, ClassVar

import numpy as np

from phasebench.errors import PluginError


def namespace(x):
    """`torch` for a tensor, else `numpy`: lets a Hamiltonian be written once for both, so that
    tests can differentiate it with autograd."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np


def canonical_names(n: int) -> tuple[str, ...]:
    """q1 … qn, p1 … pn: the state names of a canonical system with n degrees of freedom."""
    return tuple(f"q{i}" for i in range(1, n + 1)) + tuple(f"p{i}" for i in range(1, n + 1))


class System:
    """A Hamiltonian system.

    Subclasses set, as literals (the registry reads them without importing): `name`,
    `state_names` (or a property when the dimension is a parameter), `canonical`, `separable`,
    `default_integrator` (with a comment saying why), `parameters` (name -> default) and
    `structural` (the parameters that shape the state, such as a number of masses, or switch
    the physics, such as force clipping: they cannot be swept per trajectory), `positive`
    (the parameters that must be > 0, such as masses); and
    implement `hamiltonian` (written with `self.xp(x)` so that it also takes torch tensors),
    `vector_field` and `sample_initial`. Optional: `invariants` beyond energy, `sample_ood` for
    the out-of-distribution test split, and `reference_initial_states` for a published data set.
    In a parameter sweep the samplers are called for one state at a time (n = 1) on the system
    with that trajectory's parameters, each an array of one value.

    A particle system sets `particle_system = True` (a literal: models may require
    "particles"), `particles` and `space_dim` (literals or properties), `feature_names` and
    implements `sample_features(rng, n) -> (n, particles, features)`. Its state is all
    positions then all momenta, particle by particle (x1, y1, z1, x2, …, px1, …). Features are
    fixed along a trajectory and reach the field through `with_features`: write the physics
    with `self.features[..., k]`, shaped `(n, particles)` (or `(n, 1, particles)` with a time
    axis).
    """

    abstract = True
    name: ClassVar[str]
    state_names: ClassVar[tuple[str, ...]]
    canonical: ClassVar[bool] = True
    separable: ClassVar[bool] = False
    default_integrator: ClassVar[str] = "rk4"
    default_dt: ClassVar[float] = 0.1
    default_substeps: ClassVar[int] = 8
    default_n_steps: ClassVar[int] = 200
    default_n_trajectories: ClassVar[int] = 128
    parameters: ClassVar[dict[str, float]] = {}
    structural: ClassVar[tuple[str, ...]] = ()
    positive: ClassVar[tuple[str, ...]] = ()
    particle_system: ClassVar[bool] = False
    particles: ClassVar[int] = 0
    space_dim: ClassVar[int] = 0
    feature_names: ClassVar[tuple[str, ...]] = ()
    features: np.ndarray | None = None  # (n, particles, features) once bound by `with_features`

    xp = staticmethod(namespace)

    def __init__(self, **params: float):
        unknown = set(params) - set(self.parameters)
        if unknown:
            raise PluginError(
                f"system '{self.name}' has no parameter {sorted(unknown)[0]!r}; accepted: "
                f"{', '.join(sorted(self.parameters)) or 'none'}"
            )
        # Numbers, or arrays of one value per trajectory in a sweep (`for_trajectories`).
        self.params: dict[str, Any] = {
            **self.parameters,
            **{k: float(v) for k, v in params.items()},
        }

    @property
    def dim(self) -> int:
        return len(self.state_names)

    def for_trajectories(self, values: dict[str, np.ndarray], trailing: int = 0) -> "System":
        """This system with some parameters given per trajectory (a parameter sweep).

        `values[name]` has one entry per trajectory; it is shaped to broadcast like one
        component `x[..., i]` of states `(n, D)` (trailing = 0, what integrators pass) or
        `(n, T, D)` (trailing = 1). A system that scales a slice `x[..., a:b]` by a parameter
        adds the axis itself (see `per_component`).
        """
        if not values:
            return self
        structural = sorted(set(values) & set(self.structural))
        if structural:
            raise PluginError(
                f"parameter '{structural[0]}' of system '{self.name}' is structural (it shapes "
                "the state or switches the physics) and cannot vary per trajectory"
            )
        swept = copy.copy(self)
        swept.params = {
            **self.params,
            **{
                k: np.asarray(v, np.float64).reshape(-1, *[1] * trailing) for k, v in values.items()
            },
        }
        return swept

    def with_features(self, features: np.ndarray | None, trailing: int = 0) -> "System":
        """This particle system with each trajectory's particle features `(n, particles, F)`,
        shaped to broadcast over states `(n, D)` (trailing = 0) or `(n, T, D)` (trailing = 1)."""
        if features is None or not self.particle_system:
            return self
        bound = copy.copy(self)
        features = np.asarray(features, np.float64)
        bound.features = features.reshape(features.shape[0], *[1] * trailing, *features.shape[1:])
        return bound

    def feature(self, name: str):
        """One bound feature per particle, `(n, particles)` (with `(n, 1, particles)` a time
        axis), the way a field multiplies it into `self.split(x)`'s per-particle arrays."""
        if self.features is None:
            raise PluginError(
                f"system '{self.name}': feature '{name}' asked before particle features were "
                "bound (with_features)"
            )
        return self.features[..., self.feature_names.index(name)]

    def split(self, x):
        """Positions and momenta of particle states `(..., D)` as `(..., particles, space_dim)`."""
        shape = (*x.shape[:-1], self.particles, self.space_dim)
        half = self.particles * self.space_dim
        return x[..., :half].reshape(shape), x[..., half:].reshape(shape)

    def sample_features(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def per_component(self, name: str):
        """Parameter `name` shaped to scale a slice `x[..., a:b]` (swept values gain an axis)."""
        return np.asarray(self.params[name])[..., None]

    def hamiltonian(self, x):
        raise NotImplementedError

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def invariants(self, x) -> dict:
        """Named conserved quantities; energy always, Casimirs and momenta where they exist."""
        return {"energy": self.hamiltonian(x)}

    def invariant_scales(self, x) -> dict:
        """Per invariant, the magnitude its errors are measured against at states `x`: |I(x)| by
        default. A system whose invariants can pass through 0 (total momentum, or the energy
        of attracting and repelling charges) gives the size of their parts instead."""
        return {name: np.abs(value) for name, value in self.invariants(x).items()}

    def sample_initial(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def sample_ood(self, rng: np.random.Generator, n: int) -> np.ndarray | None:
        """Initial states outside the training distribution (the `test_ood` split), if any."""
        return None

    def reference_initial_states(self) -> np.ndarray | None:
        """A fixed, published set of initial states, if the system has one."""
        return None


def build_system(name: str, params: dict | None = None) -> System:
    """Instantiate a registered system plugin with parameter overrides."""
    from phasebench.registry import plugin_class

    cls = plugin_class("systems", name)
    if not (isinstance(cls, type) and issubclass(cls, System)):
        raise PluginError(f"system plugin '{name}': {cls!r} is not a phasebench.System")
    return cls(**(params or {}))

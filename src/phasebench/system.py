"""Base class of system plugins (`plugins/systems/*.py`). States are NumPy arrays `(..., D)`
in float64, coordinates ordered (q, p) for canonical systems."""

from typing import ClassVar

import numpy as np

from phasebench.errors import PluginError
from phasebench.spec import SystemSpec


class System:
    """A Hamiltonian system.

    Subclasses set, as literals (the registry reads them without importing): `name`,
    `state_names`, `canonical`, `separable`, `default_integrator`, `default_dt` and `parameters`
    (name -> default value); and implement `hamiltonian`, `vector_field` and `sample_initial`.
    """

    abstract = True
    name: ClassVar[str]
    state_names: ClassVar[tuple[str, ...]]
    canonical: ClassVar[bool] = True
    separable: ClassVar[bool] = False
    default_integrator: ClassVar[str] = "rk4"
    default_dt: ClassVar[float] = 0.1
    parameters: ClassVar[dict[str, float]] = {}

    def __init__(self, **params: float):
        unknown = set(params) - set(self.parameters)
        if unknown:
            raise PluginError(
                f"system '{self.name}' has no parameter {sorted(unknown)[0]!r}; accepted: "
                f"{', '.join(sorted(self.parameters)) or 'none'}"
            )
        self.params = {**self.parameters, **{k: float(v) for k, v in params.items()}}

    @property
    def dim(self) -> int:
        return len(self.state_names)

    def spec(self, dt: float) -> SystemSpec:
        return SystemSpec(self.name, self.dim, tuple(self.state_names), self.canonical, dt)

    def hamiltonian(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def vector_field(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def invariants(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Named conserved quantities; energy always, Casimirs and momenta where they exist."""
        return {"energy": self.hamiltonian(x)}

    def sample_initial(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


def build_system(name: str, params: dict | None = None) -> System:
    """Instantiate a registered system plugin with parameter overrides."""
    from phasebench.registry import plugin_class

    cls = plugin_class("systems", name)
    if not (isinstance(cls, type) and issubclass(cls, System)):
        raise PluginError(f"system plugin '{name}': {cls!r} is not a phasebench.System")
    return cls(**(params or {}))

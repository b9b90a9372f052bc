"""What a model is told about the system it learns (torch-free, so the registry can use it)."""

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class SystemSpec:
    """`particles`, `space_dim` and `feature_names` describe a particle system (0 / empty for
    others): its state is `particles` positions in `space_dim` dimensions, then as many momenta,
    particle by particle, and each particle carries fixed features named `feature_names`.
    `box` holds the sides of a periodic box along each axis (empty: not periodic); positions
    are then unwrapped and a model measures distances to the nearest image."""

    name: str
    dim: int
    state_names: tuple[str, ...]
    canonical: bool
    dt: float
    particles: int = 0
    space_dim: int = 0
    feature_names: tuple[str, ...] = ()
    box: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        data = asdict(self)
        return {
            **data,
            "state_names": list(self.state_names),
            "feature_names": list(data["feature_names"]),
            "box": list(data["box"]),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SystemSpec":
        names = {k: tuple(data.get(k, ())) for k in ("state_names", "feature_names", "box")}
        return cls(**{**data, **names})

    @property
    def capabilities(self) -> set[str]:
        return system_capabilities(self.canonical, self.particles > 0)


def spec_from_store(ds) -> SystemSpec:
    """What a model trained on the store (or group) `ds` is told."""
    names = tuple(str(n) for n in ds["dof"].values)
    spec = SystemSpec(
        ds.attrs["system"], len(names), names, bool(ds.attrs["canonical"]), ds.attrs["dt"]
    )
    if "particle_features" not in ds:
        return spec
    return replace(
        spec,
        particles=int(ds.attrs["particles"]),
        space_dim=int(ds.attrs["space_dim"]),
        feature_names=tuple(str(n) for n in ds["feature"].values),
        box=tuple(float(side) for side in ds.attrs.get("box", ())),
    )


def system_capabilities(canonical: bool, particles: bool = False) -> set[str]:
    """Properties of a system that a model plugin may require (`requires = ("canonical",)`):
    "canonical", and "particles" for a particle system (`particle_system = True`)."""
    return ({"canonical"} if canonical else set()) | ({"particles"} if particles else set())


def missing_capabilities(requires, capabilities: set[str]) -> list[str]:
    """What a model plugin's `requires` names that a system's capabilities lack, in order."""
    return [r for r in requires if r not in capabilities]

"""What a model is told about the system it learns (torch-free, so the registry can use it)."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SystemSpec:
    """`particles`, `space_dim` and `feature_names` describe a particle system (0 / empty for
    others): its state is `particles` positions in `space_dim` dimensions, then as many momenta,
    particle by particle, and each particle carries fixed features named `feature_names`."""

    name: str
    dim: int
    state_names: tuple[str, ...]
    canonical: bool
    dt: float
    particles: int = 0
    space_dim: int = 0
    feature_names: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        data = asdict(self)
        return {
            **data,
            "state_names": list(self.state_names),
            "feature_names": list(data["feature_names"]),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SystemSpec":
        names = {k: tuple(data.get(k, ())) for k in ("state_names", "feature_names")}
        return cls(**{**data, **names})

    @property
    def capabilities(self) -> set[str]:
        return system_capabilities(self.canonical, self.particles > 0)


def system_capabilities(canonical: bool, particles: bool = False) -> set[str]:
    """Properties of a system that a model plugin may require (`requires = ("canonical",)`):
    "canonical", and "particles" for a particle system (`particle_system = True`)."""
    return ({"canonical"} if canonical else set()) | ({"particles"} if particles else set())


def missing_capabilities(requires, capabilities: set[str]) -> list[str]:
    """What a model plugin's `requires` names that a system's capabilities lack, in order."""
    return [r for r in requires if r not in capabilities]

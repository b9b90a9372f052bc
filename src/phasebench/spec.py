"""What a model is told about the system it learns (torch-free, so the registry can use it)."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SystemSpec:
    name: str
    dim: int
    state_names: tuple[str, ...]
    canonical: bool
    dt: float

    def to_dict(self) -> dict:
        return {**asdict(self), "state_names": list(self.state_names)}

    @classmethod
    def from_dict(cls, data: dict) -> "SystemSpec":
        return cls(**{**data, "state_names": tuple(data["state_names"])})

    @property
    def capabilities(self) -> set[str]:
        return system_capabilities(self.canonical, self.dim)


def system_capabilities(canonical: bool, dim: int | None) -> set[str]:
    """Properties of a system that a model plugin may require (`requires = ("canonical",)`).
    A canonical system has an even dimension even when the number is not known statically."""
    caps = {"even_dimension"} if canonical or (dim is not None and dim % 2 == 0) else set()
    return caps | ({"canonical"} if canonical else set())


def missing_capabilities(requires, capabilities: set[str]) -> list[str]:
    """What a model plugin's `requires` names that a system's capabilities lack, in order."""
    return [r for r in requires if r not in capabilities]

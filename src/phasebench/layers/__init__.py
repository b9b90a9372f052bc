"""Building blocks shared by model plugins (public API: plugins may import from here)."""

from phasebench.layers.hamiltonian import canonical_field, implicit_midpoint_step
from phasebench.layers.sympnet import (
    ActivationShear,
    GradientShear,
    LinearShear,
    SympNet,
)

__all__ = [
    "ActivationShear",
    "GradientShear",
    "LinearShear",
    "SympNet",
    "canonical_field",
    "implicit_midpoint_step",
]

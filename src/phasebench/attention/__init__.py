"""Linear (kernelised) attention: feature maps, random projections and the attention itself.

Shared by the Performer model plugins and the attention-kernel study.
"""

from phasebench.attention.features import (
    LearnedFeatures,
    exp_features,
    hybrid_features,
    masked_features,
    positive_features,
    relu_features,
    trig_features,
)
from phasebench.attention.kernel import KERNELS, KernelAttention
from phasebench.attention.linear import linear_attention, quadratic_attention
from phasebench.attention.projections import PROJECTIONS, RandomProjection, projection

__all__ = [
    "KERNELS",
    "KernelAttention",
    "PROJECTIONS",
    "LearnedFeatures",
    "RandomProjection",
    "exp_features",
    "hybrid_features",
    "linear_attention",
    "masked_features",
    "positive_features",
    "projection",
    "quadratic_attention",
    "relu_features",
    "trig_features",
]

"""Building blocks shared by model plugins (public API: plugins may import from here)."""

from phasebench.layers.attention import MultiHeadAttention, VolumePreservingAttention
from phasebench.layers.feature_major import FeatureMajor, FeatureMajorLayer
from phasebench.layers.feedforward import (
    ResNetFeedForward,
    TriangularLayer,
    volume_preserving_feedforward,
)
from phasebench.layers.hamiltonian import SolveLog, canonical_field, implicit_midpoint_step
from phasebench.layers.particles import (
    EGNNLayer,
    MessagePassingLayer,
    ParticleAttentionLayer,
    drop_diagonal,
    join_particles,
    masses,
    mlp,
    pair_features,
    pair_geometry,
    pairwise_linear,
    random_rotations,
    split_particles,
)
from phasebench.layers.sympnet import (
    ActivationShear,
    GradientShear,
    LinearShear,
    SympNet,
)
from phasebench.layers.transformer import (
    LieTrotterLayer,
    StrangLayer,
    WindowTransformer,
    WindowTransformerPlugin,
    transformer_layer,
)

__all__ = [
    "EGNNLayer",
    "MessagePassingLayer",
    "ParticleAttentionLayer",
    "drop_diagonal",
    "join_particles",
    "masses",
    "mlp",
    "pair_features",
    "pair_geometry",
    "pairwise_linear",
    "random_rotations",
    "split_particles",
    "ActivationShear",
    "FeatureMajor",
    "FeatureMajorLayer",
    "GradientShear",
    "LieTrotterLayer",
    "LinearShear",
    "MultiHeadAttention",
    "ResNetFeedForward",
    "SolveLog",
    "StrangLayer",
    "SympNet",
    "TriangularLayer",
    "VolumePreservingAttention",
    "WindowTransformer",
    "WindowTransformerPlugin",
    "volume_preserving_feedforward",
    "canonical_field",
    "implicit_midpoint_step",
    "transformer_layer",
]

"""Transformer over particles: each particle is a token (x_i − x̄, p_i, f_i) (x̄ the centroid),
with no positional encoding; `depth` layers of attention whose logits carry a learned bias of
the pair's ‖x_i − x_j‖² and f_i ⊙ f_j, and a feed-forward block; the next state is
(x_i, p_i) + decode(token_i). `kernel` swaps softmax for one of the library's linear-attention
kernels (relu, exp, favor, learned), where the pairs enter as summed features instead.

Permutation-equivariant by construction (tokens are a set); translation-invariant increments.
"""

import torch
from torch import nn

from phasebench import ModelPlugin
from phasebench.layers import (
    ParticleAttentionLayer,
    join_particles,
    mlp,
    pair_features,
    pair_geometry,
    split_particles,
)


class ParticleTransformer(ModelPlugin):
    name = "particle_transformer"
    family = "transformer"
    requires = ("particles",)
    input_steps = output_steps = 1

    def __init__(
        self,
        spec,
        width: int = 64,
        depth: int = 4,
        heads: int = 4,
        ff_width: int = 128,
        kernel: str = "softmax",
    ):
        super().__init__(spec)
        d, n_features = spec.space_dim, len(spec.feature_names)
        self.embed = nn.Linear(2 * d + n_features, width)
        self.layers = nn.ModuleList(
            ParticleAttentionLayer(width, heads, ff_width, 1 + n_features, kernel)
            for _ in range(depth)
        )
        self.decode = nn.Sequential(nn.LayerNorm(width), mlp([width, width, 2 * d]))

    def forward(self, window, features):  # (B, 1, D), (B, N, F) -> (B, 1, D)
        x, p = split_particles(window, self.spec.particles, self.spec.space_dim)
        h = self.embed(torch.cat([x - x.mean(1, keepdim=True), p, features], -1))
        pairs = torch.cat([pair_geometry(x)[1], pair_features(features)], -1)
        for layer in self.layers:
            h = layer(h, pairs)
        dx, dp = self.decode(h).chunk(2, dim=-1)
        return join_particles(x + dx, p + dp)

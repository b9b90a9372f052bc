"""Plain message-passing network (the GNN baseline of the EGNN N-body table): node inputs
(x_i, p_i, f_i), edge attributes f_i ⊙ f_j, `depth` layers of `width`
m_ij = φ_e(h_i, h_j, a_ij), h_i ← h_i + φ_h(h_i, Σ_j m_ij), and the next state
(x_i, p_i) + decode(h_i). Permutation-equivariant; not rotation-equivariant.
"""

import torch
from torch import nn

from phasebench import ModelPlugin
from phasebench.layers import (
    MessagePassingLayer,
    join_particles,
    mlp,
    pair_features,
    split_particles,
)


class GNN(ModelPlugin):
    name = "gnn"
    family = "graph network"
    requires = ("particles",)
    input_steps = output_steps = 1

    def __init__(self, spec, width: int = 64, depth: int = 4):
        super().__init__(spec)
        d, n_features = spec.space_dim, len(spec.feature_names)
        self.embed = nn.Linear(2 * d + n_features, width)
        self.layers = nn.ModuleList(MessagePassingLayer(width, n_features) for _ in range(depth))
        self.decode = mlp([width, width, 2 * d])

    def forward(self, window, features):  # (B, 1, D), (B, N, F) -> (B, 1, D)
        x, p = split_particles(window, self.spec.particles, self.spec.space_dim)
        h = self.embed(torch.cat([x, p, features], -1))
        edges = pair_features(features)
        for layer in self.layers:
            h = layer(h, edges)
        dx, dp = self.decode(h).chunk(2, dim=-1)
        return join_particles(x + dx, p + dp)

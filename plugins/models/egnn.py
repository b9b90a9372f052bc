"""E(n)-equivariant graph neural network with velocities (Satorras, Hoogeboom & Welling 2021),
as in its N-body experiment: node features h_i = embed(‖v_i‖) (`node_features: true` adds the
particle's features f_i), edge attributes f_i ⊙ f_j (q_i q_j for charges) and, as in the paper's
code, the input's ‖x_i − x_j‖² (`input_distance`); `depth` EGNN layers of `width` (the paper: 4
of 64), each moving x_i by its messages and by φ_v(h_i) times the input velocity (eq. 7;
`carry_velocity` scales the previous layer's instead); the next state is (x_i, m_i v_i) after
the last layer (v = p/m, m = 1 without a mass feature).

The defaults are the paper's code (`vgsatorras/egnn`, `EGNN_vel`; the comparison is in
benchmarks/results/egnn_code_comparison.md): the node input is ‖v_i‖ alone, so charges enter
only as q_i q_j and flipping every charge leaves the prediction alone; the edge MLP ends in a
SiLU (`edge_activation`); the coordinate head's last layer has no bias (`coord_bias`).
`node_features: true, edge_activation: false, coord_bias: true` is phasebench's earlier model.

Permutation-equivariant, and rotations and translations of the input rotate and translate
the predicted positions (and rotate the momenta) by construction.
"""

import torch
from torch import nn

from phasebench import ModelPlugin
from phasebench.layers import (
    EGNNLayer,
    join_particles,
    masses,
    pair_features,
    pair_geometry,
    split_particles,
)


class EGNN(ModelPlugin):
    name = "egnn"
    family = "graph network"
    requires = ("particles",)
    input_steps = output_steps = 1

    def __init__(
        self,
        spec,
        width: int = 64,
        depth: int = 4,
        input_distance: bool = True,
        carry_velocity: bool = False,
        node_features: bool = False,
        edge_activation: bool = True,
        coord_bias: bool = False,
    ):
        super().__init__(spec)
        n_features = len(spec.feature_names)
        # The EGNN code's edge attributes: f_i ⊙ f_j and the input's ‖x_i − x_j‖².
        self.input_distance, self.node_features = input_distance, node_features
        edges = n_features + int(input_distance)
        self.embed = nn.Linear(1 + n_features * int(node_features), width)
        self.layers = nn.ModuleList(
            EGNNLayer(
                width,
                edges,
                carry_velocity=carry_velocity,
                edge_activation=edge_activation,
                coord_bias=coord_bias,
            )
            for _ in range(depth)
        )

    def forward(self, window, features):  # (B, 1, D), (B, N, F) -> (B, 1, D)
        x, p = split_particles(window, self.spec.particles, self.spec.space_dim)
        mass = masses(features, self.spec.feature_names)
        v0 = v = p / mass
        speed = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
        h = self.embed(torch.cat([speed, features], -1) if self.node_features else speed)
        edges = pair_features(features)
        if self.input_distance:
            edges = torch.cat([edges, pair_geometry(x)[1]], -1)
        for layer in self.layers:
            h, x, v = layer(h, x, v, edges, v0)
        return join_particles(x, mass * v)

"""Transformer over particles: each particle is a token (x_i − x̄, p_i, f_i) (x̄ the centroid),
with no positional encoding; `depth` layers of attention whose logits carry a learned bias of
the pair's ‖x_i − x_j‖² and f_i ⊙ f_j, and a feed-forward block; the next state is
(x_i, p_i) + decode(token_i). `kernel` swaps softmax for one of the library's linear-attention
kernels (relu, exp, favor, learned), where the pairs enter as summed features instead.

Local attention: `neighbours: k` (> 0) lets each particle attend to itself and its k nearest
others only, so a layer costs O(N·k) instead of O(N²) (softmax only); `cutoff: r` (> 0) drops
neighbours farther than r. k ≥ N − 1 without a cutoff is full attention.

In a periodic box (`spec.box`) distances go to the nearest image, a token is (p_i, f_i) (an
unwrapped position says nothing about the physics), and the pairs carry the displacement
x_i − x_j, which also enters each value (relative values): the model then never sees where in
the box a particle is, so it runs unchanged at another N (a larger box at the same density).

Permutation-equivariant by construction (tokens are a set); translation-invariant increments.

`rotate_training: true` (off by default) is a data augmentation for a model that is not
rotation-equivariant: in training mode each pair's input is turned by its own random rotation R
and the prediction turned back by Rᵀ, Rᵀ f(R s). The loss ‖Rᵀ f(R s) − t‖ = ‖f(R s) − R t‖ is
that of the rotated pair (input and target turned together), so training sees every pair at
random orientations; validation, evaluation and rollouts (eval mode) call f itself. Not in a
periodic box (a rotation does not map the box to itself).
"""

import torch
from torch import nn

from phasebench import ModelPlugin
from phasebench.errors import PluginError
from phasebench.layers import (
    ParticleAttentionLayer,
    join_particles,
    mlp,
    pair_features,
    random_rotations,
    split_particles,
)
from phasebench.layers.neighbourhood import displacements, gather, neighbour_indices


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
        neighbours: int = 0,
        cutoff: float = 0.0,
        rotate_training: bool = False,
    ):
        super().__init__(spec)
        if (neighbours or cutoff) and kernel != "softmax":
            raise PluginError(
                f"particle_transformer: neighbours/cutoff (local attention) need kernel "
                f"softmax, not {kernel!r}"
            )
        if neighbours < 0 or cutoff < 0:
            raise PluginError("particle_transformer: neighbours and cutoff must be ≥ 0")
        d, n_features = spec.space_dim, len(spec.feature_names)
        self.box = spec.box[0] if spec.box else None
        if rotate_training and self.box is not None:
            raise PluginError(
                "particle_transformer: rotate_training needs an open space; this system has a "
                "periodic box, which a rotation does not map to itself"
            )
        self.rotate_training = rotate_training
        self.neighbours, self.cutoff = neighbours, cutoff
        periodic = self.box is not None
        tokens = (d if periodic else 2 * d) + n_features
        pairs = (d if periodic else 0) + 1 + n_features
        self.embed = nn.Linear(tokens, width)
        self.layers = nn.ModuleList(
            ParticleAttentionLayer(width, heads, ff_width, pairs, kernel, relative_values=periodic)
            for _ in range(depth)
        )
        self.decode = nn.Sequential(nn.LayerNorm(width), mlp([width, width, 2 * d]))

    def forward(self, window, features):  # (B, 1, D), (B, N, F) -> (B, 1, D)
        x, p = split_particles(window, self.spec.particles, self.spec.space_dim)
        if self.rotate_training and self.training:
            turn = random_rotations(x.shape[0], x.shape[-1], x)  # (B, d, d)
            x, p = self._predict(x @ turn.transpose(1, 2), p @ turn.transpose(1, 2), features)
            return join_particles(x @ turn, p @ turn)  # rows @ R = (Rᵀ · column) turned back
        return join_particles(*self._predict(x, p, features))

    def _predict(self, x, p, features):
        """Next positions and momenta `(B, N, d)` each."""
        own = [p, features] if self.box is not None else [x - x.mean(1, keepdim=True), p, features]
        h = self.embed(torch.cat(own, -1))
        count = x.shape[1]
        local = 0 < self.neighbours < count - 1
        if local:
            index = neighbour_indices(x, self.neighbours, self.box)
            diff = displacements(x[:, :, None], gather(x, index), self.box)
            products = features[:, :, None] * gather(features, index)
        else:
            index = None
            diff = displacements(x[:, :, None], x[:, None], self.box)
            products = pair_features(features)
        r2 = (diff * diff).sum(-1, keepdim=True)
        pairs = torch.cat([diff, r2, products] if self.box is not None else [r2, products], -1)
        mask = r2[..., 0] <= self.cutoff**2 if self.cutoff else None
        for layer in self.layers:
            h = layer(h, pairs, index, mask)
        dx, dp = self.decode(h).chunk(2, dim=-1)
        return x + dx, p + dp

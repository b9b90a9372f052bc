"""The EGNN N-body table's linear baseline: straight-line motion x_i ← x_i + τ p_i/m_i with one
learned time τ (initially the data's dt), momenta unchanged."""

import torch
from torch import nn

from phasebench import ModelPlugin
from phasebench.layers import join_particles, masses, split_particles


class Linear(ModelPlugin):
    name = "linear"
    family = "linear"
    requires = ("particles",)
    input_steps = output_steps = 1

    def __init__(self, spec):
        super().__init__(spec)
        self.time = nn.Parameter(torch.tensor(float(spec.dt)))

    def forward(self, window, features):  # (B, 1, D), (B, N, F) -> (B, 1, D)
        x, p = split_particles(window, self.spec.particles, self.spec.space_dim)
        return join_particles(x + self.time * p / masses(features, self.spec.feature_names), p)

"""Transformer as a learned integrator (CEMRACS 2023): a window of T states in, the next T out.

x ← E(window) (+ positions);  L × [x ← MHA(x);  x ← x + FFN(x)];  next = window + R(x),
with E, R linear maps to and from `embed` dimensions. With `embed = 0` the layers act on the
states themselves and their output is the prediction, as in the CEMRACS code; `ff_width = 0`
gives its ResNet x + tanh(Wx + b). The Stiefel transformer is this plugin with `stiefel: true`.
"""

import torch
from torch import nn

from phasebench import ModelPlugin
from phasebench.layers import LieTrotterLayer, MultiHeadAttention, ResNetFeedForward


class Transformer(ModelPlugin):
    name = "transformer"
    family = "transformer"
    input_steps = output_steps = 3

    def __init__(
        self,
        spec,
        window: int = 3,
        depth: int = 2,
        heads: int = 2,
        embed: int = 16,
        ff_width: int = 32,
        add_connection: bool = True,
        use_bias: bool = True,
        stiefel: bool = False,
        scale: bool = True,
        positional: bool = False,
    ):
        super().__init__(spec)
        self.input_steps = self.output_steps = window
        dim = embed or spec.dim
        self.embed = nn.Linear(spec.dim, embed) if embed else None
        self.readout = nn.Linear(embed, spec.dim) if embed else None
        self.positions = nn.Parameter(torch.zeros(window, dim)) if positional else None
        self.layers = nn.Sequential(
            *(
                LieTrotterLayer(
                    MultiHeadAttention(dim, heads, stiefel, scale, add_connection),
                    ResNetFeedForward(dim, ff_width, use_bias),
                )
                for _ in range(depth)
            )
        )

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        x = self.embed(window) if self.embed else window
        if self.positions is not None:
            x = x + self.positions
        x = self.layers(x)
        return window + self.readout(x) if self.readout else x

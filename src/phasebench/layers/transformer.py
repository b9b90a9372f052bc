"""Transformer layers as splittings of a residual update into attention and feed-forward parts.

Lie–Trotter (standard):  x ← Attn(x);  x ← x + FFN(x)
Strang (Macaron, Lu et al. arXiv 1906.02762):  x ← x + ½FFN₁(x);  x ← Attn(x);  x ← x + ½FFN₂(x)
(Attn includes its add connection.)
"""

from collections.abc import Callable

import torch
from torch import nn

from phasebench.layers.attention import MultiHeadAttention
from phasebench.layers.feature_major import FeatureMajor, runs_feature_major
from phasebench.layers.feedforward import ResNetFeedForward


class LieTrotterLayer(nn.Module):
    def __init__(self, attention: nn.Module, feedforward: nn.Module):
        super().__init__()
        self.attention, self.feedforward = attention, feedforward

    def forward(self, x):
        x = self.attention(x)
        return x + self.feedforward(x)

    def feature_major_ready(self) -> bool:
        return all(runs_feature_major(part) for part in self.children())

    def feature_major(self, x):
        x = self.attention.feature_major(x)
        return x + self.feedforward.feature_major(x)


class StrangLayer(nn.Module):
    def __init__(self, attention: nn.Module, first: nn.Module, second: nn.Module):
        super().__init__()
        self.attention, self.first, self.second = attention, first, second

    def forward(self, x):
        x = x + 0.5 * self.first(x)
        x = self.attention(x)
        return x + 0.5 * self.second(x)

    def feature_major_ready(self) -> bool:
        return all(runs_feature_major(part) for part in self.children())

    def feature_major(self, x):
        x = x + 0.5 * self.first.feature_major(x)
        x = self.attention.feature_major(x)
        return x + 0.5 * self.second.feature_major(x)


def transformer_layer(
    dim: int,
    heads: int,
    ff_width: int,
    stiefel=False,
    scale=True,
    add_connection=True,
    use_bias=True,
    kernel: nn.Module | None = None,
) -> LieTrotterLayer:
    """One standard layer: multi-head attention (softmax unless `kernel` is given), then a
    residual feed-forward block."""
    attention = MultiHeadAttention(dim, heads, stiefel, scale, add_connection, kernel)
    return LieTrotterLayer(attention, ResNetFeedForward(dim, ff_width, use_bias))


class WindowTransformer(nn.Module):
    """A window of T states in, the next T out: x ← E(window) (+ positions); x ← layers(x);
    next = window + R(x), with E, R linear maps to and from `embed` dimensions. With
    `embed = 0` the layers act on the states themselves and their output is the prediction.

    `make_layer(width)` builds one layer; `depth` of them are stacked.
    """

    def __init__(
        self,
        state_dim: int,
        window: int,
        embed: int,
        depth: int,
        make_layer: Callable[[int], nn.Module],
        positional: bool = False,
    ):
        super().__init__()
        width = embed or state_dim
        self.embed = nn.Linear(state_dim, embed) if embed else None
        self.readout = nn.Linear(embed, state_dim) if embed else None
        self.positions = nn.Parameter(torch.zeros(window, width)) if positional else None
        layers = [make_layer(width) for _ in range(depth)]
        # One layout change for the whole stack where every layer has a feature-major form.
        chain = (
            FeatureMajor if all(runs_feature_major(layer) for layer in layers) else nn.Sequential
        )
        self.layers = chain(*layers)

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        x = self.embed(window) if self.embed else window
        if self.positions is not None:
            x = x + self.positions
        x = self.layers(x)
        return window + self.readout(x) if self.readout else x

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
from phasebench.model import ModelPlugin


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


class WindowTransformerPlugin(ModelPlugin):
    """Base of the transformer-family plugins: a `WindowTransformer` of `depth` layers, `window`
    states in and the next `window` out (so input_steps = output_steps = window), `embed` wide
    (the states themselves when 0), `heads` attention heads and `ff_width` wide feed-forward
    blocks. A plugin gives `layer(width, **options)`, one layer of the body; its own
    hyperparameters come before `**body` in its `__init__` and reach `layer` as `options`:

        def __init__(self, spec, m: int = 32, **body):
            super().__init__(spec, m=m, **body)

    The registry reads these five hyperparameters, `family` and `hparam_schema` from here, so
    a plugin restates none of them. The option `positional` (learned positions) goes to the
    body, not to `layer`.
    """

    abstract = True
    family = "transformer"
    hparam_schema = {
        "window": {"minimum": 1},
        "depth": {"minimum": 1},
        "heads": {"minimum": 1},
        "embed": {"minimum": 0},
        "ff_width": {"minimum": 0},
    }

    def __init__(
        self,
        spec,
        window: int = 3,
        depth: int = 2,
        heads: int = 2,
        embed: int = 16,
        ff_width: int = 32,
        **options,
    ):
        super().__init__(spec)
        self.input_steps = self.output_steps = window
        self.heads, self.ff_width = heads, ff_width
        positional = options.pop("positional", False)

        def make_layer(width):
            return self.layer(width, **options)

        self.body = WindowTransformer(spec.dim, window, embed, depth, make_layer, positional)

    def layer(self, width: int, **options) -> nn.Module:
        raise NotImplementedError

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        return self.body(window)

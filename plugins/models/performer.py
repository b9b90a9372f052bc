"""Performers: a small pre-norm transformer over the window whose attention is linear
(Choromanski et al. 2020); the plugins differ only in the attention's feature map.

Interim body: the `transformer` plugin (issue 4) had not landed when these were written; once
it takes its attention as a module, these should reuse its body with `attention.SelfAttention`.
"""

import torch
from torch import nn

from phasebench import ModelPlugin
from phasebench.attention import SelfAttention


class _Block(nn.Module):
    def __init__(self, width, attention):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = attention
        self.mlp = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _Performer(ModelPlugin):
    abstract = True
    family = "transformer"
    input_steps = 8
    output_steps = 1
    kernel = "relu"

    def __init__(self, spec, width=16, heads=2, layers=1, **attention):
        super().__init__(spec)
        self.embed = nn.Linear(spec.dim, width)
        self.position = nn.Parameter(torch.zeros(self.input_steps, width))
        self.blocks = nn.Sequential(
            *(
                _Block(width, SelfAttention(width, heads, self.kernel, causal=True, **attention))
                for _ in range(layers)
            )
        )
        self.readout = nn.Linear(width, spec.dim)

    def forward(self, window):  # (B, 8, D) -> (B, 1, D): increment from the last token
        h = self.blocks(self.embed(window) + self.position)
        return window[:, -1:] + self.readout(h[:, -1:])


class PerformerReLU(_Performer):
    name = "performer_relu"
    kernel = "relu"

    def __init__(self, spec, width: int = 16, heads: int = 2, layers: int = 1):
        super().__init__(spec, width, heads, layers)


class PerformerExp(_Performer):
    name = "performer_exp"
    kernel = "exp"

    def __init__(self, spec, width: int = 16, heads: int = 2, layers: int = 1):
        super().__init__(spec, width, heads, layers)


class PerformerFavor(_Performer):
    """FAVOR+: m positive random features, orthogonal or iid, redrawn every `redraw_every`
    training steps (0: fixed)."""

    name = "performer_favor"
    kernel = "favor"

    def __init__(
        self,
        spec,
        width: int = 16,
        heads: int = 2,
        layers: int = 1,
        m: int = 16,
        orthogonal: bool = True,
        redraw_every: int = 100,
    ):
        projection = "orthogonal" if orthogonal else "iid"
        super().__init__(
            spec, width, heads, layers, m=m, projection=projection, redraw_every=redraw_every
        )


class PerformerLearned(_Performer):
    """Learnable positive features f_θ, initialised at FAVOR+."""

    name = "performer_learned"
    kernel = "learned"

    def __init__(self, spec, width: int = 16, heads: int = 2, layers: int = 1, m: int = 16):
        super().__init__(spec, width, heads, layers, m=m)

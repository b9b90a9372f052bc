"""Transformer layers as splittings of a residual update into attention and feed-forward parts.

Lie–Trotter (standard):  x ← Attn(x);  x ← x + FFN(x)
Strang (Macaron, Lu et al. arXiv 1906.02762):  x ← x + ½FFN₁(x);  x ← Attn(x);  x ← x + ½FFN₂(x)
(Attn includes its add connection.)
"""

from torch import nn


class LieTrotterLayer(nn.Module):
    def __init__(self, attention: nn.Module, feedforward: nn.Module):
        super().__init__()
        self.attention, self.feedforward = attention, feedforward

    def forward(self, x):
        x = self.attention(x)
        return x + self.feedforward(x)


class StrangLayer(nn.Module):
    def __init__(self, attention: nn.Module, first: nn.Module, second: nn.Module):
        super().__init__()
        self.attention, self.first, self.second = attention, first, second

    def forward(self, x):
        x = x + 0.5 * self.first(x)
        x = self.attention(x)
        return x + 0.5 * self.second(x)

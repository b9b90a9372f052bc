"""Feed-forward blocks applied to every token with shared weights."""

import torch
from torch import nn

from phasebench.layers.feature_major import FeatureMajor, FeatureMajorLayer, mix


class ResNetFeedForward(FeatureMajorLayer):
    """The CEMRACS transformer's x ↦ tanh(Wx + b) (the layer adds x), or with `width` > 0 a
    two-layer x ↦ W2 tanh(W1 x + b1). The second layer has no bias, so that two halves of width
    w/2 (Macaron) have exactly the parameters of one of width w."""

    def __init__(self, dim: int, width: int = 0, use_bias: bool = True):
        super().__init__()
        if width:
            self.net = nn.Sequential(
                nn.Linear(dim, width, bias=use_bias), nn.Tanh(), nn.Linear(width, dim, bias=False)
            )
        else:
            self.net = nn.Sequential(nn.Linear(dim, dim, bias=use_bias), nn.Tanh())

    def plain(self, x):
        return self.net(x)

    def feature_major(self, x):
        first = self.net[0]
        y = torch.tanh(mix(first.weight, x, first.bias))
        return mix(self.net[2].weight, y) if len(self.net) == 3 else y


def identity(y):
    return y


class TriangularLayer(FeatureMajorLayer):
    """x ↦ x + σ(Mx + b) with M strictly lower (or upper) triangular: its Jacobian is unit
    triangular, so its determinant is 1 (volume preserving). Input (…, d), or (d, …) in
    `feature_major`."""

    def __init__(self, dim: int, lower: bool, activation=None, bias: bool = True):
        super().__init__()
        offset = -1 if lower else 1
        rows, cols = (
            torch.tril_indices(dim, dim, offset) if lower else torch.triu_indices(dim, dim, offset)
        )
        # M is gathered from [0, w] by a fixed index, not scattered on every forward.
        index = torch.zeros(dim, dim, dtype=torch.long)
        index[rows, cols] = torch.arange(1, len(rows) + 1)
        self.register_buffer("entries", index, persistent=False)
        self.weights = nn.Parameter(0.1 * torch.randn(dim * (dim - 1) // 2))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None
        self.activation = activation or identity
        self.dim = dim

    def matrix(self):
        return torch.cat([self.weights.new_zeros(1), self.weights])[self.entries]

    def plain(self, x):
        y = x @ self.matrix().T
        if self.bias is not None:
            y = y + self.bias
        return x + self.activation(y)

    def feature_major(self, x):
        if self.activation is identity:  # x + Mx + b = (I + M)x + b: one product, no sums
            eye = torch.eye(self.dim, dtype=x.dtype, device=x.device)
            return mix(eye + self.matrix(), x, self.bias)
        return x + self.activation(mix(self.matrix(), x, self.bias))


def volume_preserving_feedforward(dim: int, n_blocks: int) -> FeatureMajor:
    """n_blocks × [Lower(id) → Upper(id, bias) → Lower(tanh, bias) → Upper(tanh, bias)],
    closed by Lower(id) → Upper(id, bias) (the VPT paper's block structure)."""
    layers = []
    for _ in range(n_blocks):
        layers += [
            TriangularLayer(dim, lower=True, bias=False),
            TriangularLayer(dim, lower=False),
            TriangularLayer(dim, lower=True, activation=torch.tanh),
            TriangularLayer(dim, lower=False, activation=torch.tanh),
        ]
    layers += [TriangularLayer(dim, lower=True, bias=False), TriangularLayer(dim, lower=False)]
    return FeatureMajor(*layers)

"""SympNet modules (Jin et al., arXiv 2001.03750): shears of (q, p), symplectic for any weights.

Each module updates one half from the other, "up" (p ← p + g(q)) or "low" (q ← q + g(p)), with
g the gradient of a scalar, so its Jacobian is [[I, 0], [∇²V, I]]-shaped and symplectic; its
inverse subtracts the same update.
"""

import torch
from torch import nn


class _Shear(nn.Module):
    def __init__(self, up: bool):
        super().__init__()
        self.up = up

    def update(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, q, p):
        return (q, p + self.update(q)) if self.up else (q + self.update(p), p)

    def inverse(self, q, p):
        return (q, p - self.update(q)) if self.up else (q - self.update(p), p)


class LinearShear(_Shear):
    """p ← p + S q (or q ← q + S p) with S = A + Aᵀ symmetric."""

    def __init__(self, n: int, up: bool):
        super().__init__(up)
        self.a = nn.Parameter(0.1 * torch.randn(n, n))

    def update(self, x):
        return x @ (self.a + self.a.T)


class ActivationShear(_Shear):
    """p ← p + a ⊙ σ(q) (or q ← q + a ⊙ σ(p)), elementwise."""

    def __init__(self, n: int, up: bool, activation=torch.tanh):
        super().__init__(up)
        self.a = nn.Parameter(0.1 * torch.randn(n))
        self.activation = activation

    def update(self, x):
        return self.a * self.activation(x)


class GradientShear(_Shear):
    """p ← p + Kᵀ diag(a) σ(K q + b) (or the same for q from p): the gradient of
    Σ a_i ∫σ(K q + b)_i, hence a symplectic shear."""

    def __init__(self, n: int, width: int, up: bool, activation=torch.tanh):
        super().__init__(up)
        self.k = nn.Parameter(torch.randn(width, n) / n**0.5)
        self.a = nn.Parameter(0.1 * torch.randn(width) / width**0.5)
        self.b = nn.Parameter(torch.zeros(width))
        self.activation = activation

    def update(self, x):
        return (self.a * self.activation(x @ self.k.T + self.b)) @ self.k


class SympNet(nn.Module):
    """A composition of shears acting on x = (q, p); invertible and symplectic."""

    def __init__(self, modules):
        super().__init__()
        self.shears = nn.ModuleList(modules)

    def forward(self, x):
        q, p = x.chunk(2, dim=-1)
        for shear in self.shears:
            q, p = shear(q, p)
        return torch.cat([q, p], dim=-1)

    def inverse(self, x):
        q, p = x.chunk(2, dim=-1)
        for shear in reversed(self.shears):
            q, p = shear.inverse(q, p)
        return torch.cat([q, p], dim=-1)

"""Small-state layers in feature-major layout: the axes reversed, (d, …, batch).

The paper-sized models act on states of 3 to 6 numbers. Stored as (batch, T, d), every matrix
product is a (49152 × 3)·(3 × 3) that BLAS runs with a poor kernel, and every compiled loop
vectorises over 3 lanes. With the axes reversed the same arithmetic runs along the batch: a
product becomes (d × d)·(d × N), about 13 times faster on this project's CPU, and element-wise
loops are long and contiguous. Layers that define `feature_major(x)` are chained by
`FeatureMajor`, which reverses the axes once on the way in and once on the way out.
"""

from contextlib import contextmanager

import torch
from torch import nn

# Contractions at most this long are written out when compiling, so that they fuse with the
# element-wise work around them; longer ones (and all of them in eager mode) go to BLAS.
SHORT = 8

_fast = {"enabled": True}


@contextmanager
def plain_layers():
    """Run every layer by its plain formula (batch-major, general Cayley solve): the reference
    path that the fast one is checked and timed against."""
    before = _fast["enabled"]
    _fast["enabled"] = False
    try:
        yield
    finally:
        _fast["enabled"] = before


def to_feature_major(x: torch.Tensor) -> torch.Tensor:
    return x.permute(*reversed(range(x.dim()))).contiguous()


def from_feature_major(x: torch.Tensor) -> torch.Tensor:
    return x.permute(*reversed(range(x.dim())))


def mix(matrix: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """y[i] = Σ_j M[i, j] x[j] (+ b[i]) over the leading axis of a feature-major x."""
    if torch.compiler.is_compiling() and matrix.shape[1] <= SHORT:
        weights = matrix.reshape(*matrix.shape, *[1] * (x.dim() - 1))
        y = (weights * x.unsqueeze(0)).sum(1)
        return y if bias is None else y + bias.reshape(-1, *[1] * (x.dim() - 1))
    flat = x.reshape(x.shape[0], -1)
    y = matrix @ flat if bias is None else torch.addmm(bias[:, None], matrix, flat)
    return y.reshape(matrix.shape[0], *x.shape[1:])


def contract(a: torch.Tensor, b: torch.Tensor, axis: int) -> torch.Tensor:
    """Σ over `axis` of the broadcast product a · b (a short axis: written out, it fuses)."""
    return (a * b).sum(axis)


def cayley(c: torch.Tensor) -> torch.Tensor:
    """(I − C)⁻¹(I + C) for skew-symmetric C laid out (n, n, batch…).

    For n ≤ 3 in closed form, I + 2(C + C²)/(1 + ½‖C‖²_F): a 3 × 3 skew matrix is [w]ₓ with
    C³ = −|w|²C and |w|² = ½‖C‖²_F, the 2 × 2 case obeys the same formula, and I − C is never
    singular. Larger n: a batched solve, NaN where I − C is singular (a diverged input), so that
    one sample's rollout counts as diverged instead of stopping the whole batch.
    """
    n = c.shape[0]
    eye = torch.eye(n, dtype=c.dtype, device=c.device)
    if n <= 3:
        square = contract(c.unsqueeze(2), c.unsqueeze(0), axis=1)
        norm = 1 + 0.5 * (c * c).sum((0, 1))
        return eye.reshape(n, n, *[1] * (c.dim() - 2)) + 2 * (c + square) / norm
    batch_first = c.movedim((0, 1), (-2, -1))
    out, info = torch.linalg.solve_ex(eye - batch_first, eye + batch_first)
    out = torch.where((info != 0)[..., None, None], torch.nan, out)
    return out.movedim((-2, -1), (0, 1))


def cayley_apply_3(az: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(I − C)⁻¹(I + C) applied along the time axis of z (d, 3, batch…), where
    C = Σ_j a_j v_jᵀ with a_j = az[j], v_j = z[j] is skew-symmetric, without forming C.

    a vᵀ − v aᵀ = [v × a]ₓ, so C = [w]ₓ with w = ½ Σ_j v_j × a_j, and for each feature's
    v ∈ R³ the closed form of `cayley` reads v + 2(w × v + w(w·v) − |w|²v)/(1 + |w|²).
    """
    w = 0.5 * cross(z, az).sum(0, keepdim=True)  # (1, 3, batch…)
    norm = (w * w).sum(1, keepdim=True)
    along = w * (w * z).sum(1, keepdim=True)
    return z + 2 * (cross(w, z) + along - norm * z) / (1 + norm)


def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a × b along axis 1 (of length 3), broadcasting the other axes. Written out, since
    `torch.linalg.cross` on the CPU took 4.5× as long forward and backward on (3, 3, 16384)
    tensors: a quarter of a `vpt` step at the paper's batch."""
    a0, a1, a2 = a.unbind(1)
    b0, b1, b2 = b.unbind(1)
    return torch.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), 1)


class FeatureMajorLayer(nn.Module):
    """A layer with two ways to compute one map: `plain(x)` on (…, d), the definition, and
    `feature_major(x)` on the reversed axes, the fast path (used unless `plain_layers()`).
    A layer whose feature-major form depends on its settings says so in `feature_major_ready`."""

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def feature_major(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x):
        if not (_fast["enabled"] and runs_feature_major(self)):
            return self.plain(x)
        return from_feature_major(self.feature_major(to_feature_major(x)))


def runs_feature_major(module: nn.Module) -> bool:
    """Whether `module` has a feature-major form (a composite asks its parts)."""
    ready = getattr(module, "feature_major_ready", None)
    if ready is not None:
        return ready()
    return isinstance(module, FeatureMajorLayer | FeatureMajor)


class FeatureMajor(nn.Sequential):
    """A chain of layers with feature-major forms, converted once on the way in and once on the
    way out; on the plain path each runs its own `forward`."""

    def plain(self, x):
        return super().forward(x)

    def feature_major(self, x):
        for layer in self:
            x = layer.feature_major(x)
        return x

    def forward(self, x):
        if not _fast["enabled"]:
            return self.plain(x)
        return from_feature_major(self.feature_major(to_feature_major(x)))

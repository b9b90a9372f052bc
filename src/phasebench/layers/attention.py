"""Attention layers: multi-head softmax attention with optional Stiefel (orthonormal)
projections (CEMRACS 2023), and volume-preserving attention (Brantner et al., arXiv 2312.11166).

Inputs are `(batch, T, d)`: T tokens (time steps) of dimension d; `feature_major` forms take
`(d, T, batch)` (see `phasebench.layers.feature_major`).
"""

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import orthogonal

from phasebench.attention.kernel import KernelAttention
from phasebench.layers.feature_major import (
    FeatureMajorLayer,
    cayley,
    cayley_apply_3,
    contract,
    mix,
)


def restore_orthonormal_bases(module: nn.Module) -> None:
    """Re-orthonormalise, in their current dtype, the stored bases of `module`'s orthogonal
    parametrisations that are orthonormal only to a coarser dtype's roundoff.

    torch's `orthogonal` keeps a fixed orthogonal `base` buffer and multiplies it by the learned
    rotation: made in float32 and cast (or loaded) to float64, PᵀP − I stays at 1e-7. The QR
    factor with a positive diagonal is the nearest such basis up to O(error), so the map moves by
    about 1e-7 and is then orthonormal to 1e-16. A basis already orthonormal to its own dtype's
    roundoff is left exactly as it is (a float32 model is unchanged)."""
    for layer in module.modules():
        if not parametrize.is_parametrized(layer):
            continue
        for parametrisations in layer.parametrizations.values():
            for parametrisation in parametrisations:
                base = getattr(parametrisation, "base", None)
                if not isinstance(base, torch.Tensor) or not base.is_floating_point():
                    continue
                eye = torch.eye(base.shape[-1], dtype=base.dtype, device=base.device)
                roundoff = 10 * base.shape[-1] * torch.finfo(base.dtype).eps
                if (base.mT @ base - eye).abs().max() <= roundoff:
                    continue
                with torch.no_grad():
                    q, r = torch.linalg.qr(base)
                    base.copy_(q * r.diagonal(dim1=-2, dim2=-1).sign().unsqueeze(-2))


class MultiHeadAttention(FeatureMajorLayer):
    """Head i: softmax attention with queries X P^Q_i, keys X P^K_i, values X P^V_i,
    P ∈ R^{d × d/h}; the heads' outputs are stacked back to dimension d (no output matrix).

    `stiefel` keeps every P on the Stiefel manifold (PᵀP = I); `scale` divides the scores by
    √d; `add_connection` adds the input to the output. `kernel` replaces each head's softmax
    attention (a `phasebench.attention.KernelAttention`, shared by the heads).
    """

    def __init__(
        self, dim: int, heads: int, stiefel=False, scale=True, add_connection=True, kernel=None
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads = {heads} must divide the dimension {dim}")

        def projection():
            layer = nn.Linear(dim, dim // heads, bias=False)
            return orthogonal(layer) if stiefel else layer

        self.query = nn.ModuleList(projection() for _ in range(heads))
        self.key = nn.ModuleList(projection() for _ in range(heads))
        self.value = nn.ModuleList(projection() for _ in range(heads))
        self.scale = dim**-0.5 if scale else 1.0
        self.add_connection = add_connection
        self.kernel = kernel if kernel is not None else KernelAttention(dim // heads)
        if stiefel:  # orthonormal in the dtype the weights are loaded in, too
            self.register_load_state_dict_post_hook(
                lambda layer, _: restore_orthonormal_bases(layer)
            )

    def _apply(self, fn, recurse=True):
        # After `.double()` or `.to(float64)`: orthonormal in the new dtype, not the old one.
        super()._apply(fn, recurse)
        restore_orthonormal_bases(self)
        return self

    def plain(self, x):  # (..., T, d)
        # Every head's queries, keys and values from one product and the heads as a batch axis
        # of one kernel call: a loop over heads cost the image study's ViTs 15–25 % of their
        # training time (small tensors, per-call overhead).
        heads = len(self.query)
        projections = [p.weight for group in (self.query, self.key, self.value) for p in group]
        qkv = (x @ torch.cat(projections).T).unflatten(-1, (3, heads, -1))  # (..., T, 3, h, d/h)
        q, k, v = qkv.movedim(-2, -4).unbind(-2)  # each (..., h, T, d/h)
        out = self.kernel(q, k, v, self.scale).movedim(-3, -2).flatten(-2)
        return x + out if self.add_connection else out

    def feature_major_ready(self) -> bool:
        return self.kernel.kernel == "softmax"  # the linear kernels keep their (…, T, d) form

    def feature_major(self, z):  # (d, T, B)
        # Every head's queries, keys and values from one product.
        projections = [p.weight for group in (self.query, self.key, self.value) for p in group]
        q, k, v = mix(torch.cat(projections), z).chunk(3)
        heads = []
        for qh, kh, vh in zip(
            q.chunk(len(self.query)),
            k.chunk(len(self.query)),
            v.chunk(len(self.query)),
            strict=True,
        ):
            scores = self.scale * contract(qh.unsqueeze(2), kh.unsqueeze(1), axis=0)  # (T, T, B)
            if self.kernel.causal:
                later = torch.ones(scores.shape[:2], dtype=torch.bool, device=z.device).triu(1)
                scores = scores.masked_fill(later[..., None], float("-inf"))
            weights = torch.softmax(scores, dim=1)
            heads.append(contract(weights.unsqueeze(0), vh.unsqueeze(1), axis=2))
        out = torch.cat(heads)
        return z + out if self.add_connection else out


class VolumePreservingAttention(FeatureMajorLayer):
    """Z ↦ Z Λ(Z) with Λ = Cayley(C) = (I − C)(I + C)⁻¹ and C = ZᵀAZ, A skew-symmetric.

    C is then skew-symmetric, Λ orthogonal, and the whole map has Jacobian determinant 1. In the
    (T, d) layout X = Zᵀ this reads X ↦ ΛᵀX = (I − C)⁻¹(I + C) X. Input (B, T, d), or (d, T, B)
    in `feature_major`.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("entries", skew_gather_index(dim), persistent=False)
        self.weights = nn.Parameter(0.1 * torch.randn(dim * (dim - 1) // 2))
        self.dim = dim

    def skew(self):
        """A = L − Lᵀ, L strictly lower triangular holding the weights (gathered, no scatter)."""
        signed = torch.cat([self.weights.new_zeros(1), self.weights, -self.weights])
        return signed[self.entries]

    def plain(self, x):  # (B, T, d)
        c = x @ self.skew() @ x.transpose(-1, -2)
        eye = torch.eye(x.shape[-2], dtype=x.dtype, device=x.device)
        out, info = torch.linalg.solve_ex(eye - c, (eye + c) @ x)
        # A diverged input can make I − C singular: that sample becomes NaN (and its rollout
        # counts as diverged) instead of stopping the whole batch.
        return torch.where((info != 0).reshape(-1, *[1] * (x.dim() - 1)), torch.nan, out)

    def feature_major(self, z):  # (d, T, B)
        az = mix(self.skew().T, z)  # (Aᵀ z)[j, s] = Σ_i A[i, j] z[i, s]
        if z.shape[1] == 3:  # the paper's window: the transform as a rotation-like vector form
            return cayley_apply_3(az, z)
        c = contract(az.unsqueeze(2), z.unsqueeze(1), axis=0)  # C[s, t] = z_sᵀ A z_t: (T, T, B)
        return contract(cayley(c).unsqueeze(0), z.unsqueeze(1), axis=2)  # Σ_t Λ[s, t] z[:, t]


def skew_gather_index(dim: int) -> torch.Tensor:
    """(dim, dim) positions into [0, w, −w] that place w below the diagonal and −w above it."""
    rows, cols = torch.tril_indices(dim, dim, offset=-1)
    index = torch.zeros(dim, dim, dtype=torch.long)
    index[rows, cols] = torch.arange(1, len(rows) + 1)
    index[cols, rows] = torch.arange(len(rows) + 1, 2 * len(rows) + 1)
    return index

"""The attention of one head, swappable: softmax (scaled_dot_product_attention) or a linear
attention whose feature map φ stands in for the softmax kernel. `MultiHeadAttention` takes one
of these, so a transformer body changes only its attention (the Performer plugins)."""

import torch.nn.functional as F
from torch import nn

from phasebench.attention.features import (
    LearnedFeatures,
    exp_features,
    exp_of_logits,
    positive_logits,
    relu_features,
)
from phasebench.attention.linear import linear_attention
from phasebench.attention.projections import RandomProjection

KERNELS = ("softmax", "relu", "exp", "favor", "learned")


class KernelAttention(nn.Module):
    """(q, k, v) of shape (..., T, d) and the softmax temperature `scale` → (..., T, d).

    kernel: one of KERNELS. `m` and `projection` set the random features of favor (and the
    initial features of learned); favor redraws them every `redraw_every` training calls.
    """

    def __init__(
        self,
        head_dim: int,
        kernel: str = "softmax",
        m: int = 32,
        projection: str = "orthogonal",
        redraw_every: int = 0,
        causal: bool = False,
    ):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown attention kernel {kernel!r}: expected one of {KERNELS}")
        self.kernel, self.causal = kernel, causal
        if kernel == "favor":
            self.features = RandomProjection(m, head_dim, projection, redraw_every)
        elif kernel == "learned":
            self.features = LearnedFeatures(head_dim, m, projection)

    def forward(self, q, k, v, scale: float):
        if self.kernel == "softmax":
            return F.scaled_dot_product_attention(q, k, v, scale=scale, is_causal=self.causal)
        # exp(scale·qᵀk) = exp((√scale q)ᵀ(√scale k)): the temperature is split between q and k.
        q, k = q * scale**0.5, k * scale**0.5
        return linear_attention(*self._features(q, k), v, causal=self.causal, eps=1e-6)

    def _features(self, q, k):
        if self.kernel == "relu":
            return relu_features(q), relu_features(k)
        if self.kernel == "exp":
            # A per-row offset on the keys would weigh each key by its own factor.
            return exp_features(q), exp_features(k, over=(-2, -1))
        if self.kernel == "favor":
            w = self.features().to(q.dtype)
            lq, lk = positive_logits(q, w), positive_logits(k, w)
        else:
            lq, lk = self.features.logits(q), self.features.logits(k)
        # Max-subtraction before exp; the offsets (per query row, one per head for the keys)
        # are constant factors that cancel in the normalisation, causal or not.
        offset_q = lq.amax(-1, keepdim=True).detach()
        offset_k = lk.amax((-2, -1), keepdim=True).detach()
        return exp_of_logits(lq, offset_q), exp_of_logits(lk, offset_k)

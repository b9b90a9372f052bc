"""Multi-head self-attention with a swappable kernel: softmax (scaled_dot_product_attention) or
a linear one, so a transformer body can take the attention as a constructor argument."""

import torch
import torch.nn.functional as F
from torch import nn

from phasebench.attention.features import LearnedFeatures, exp_features, relu_features
from phasebench.attention.linear import linear_attention
from phasebench.attention.projections import RandomProjection

KERNELS = ("softmax", "relu", "exp", "favor", "learned")


class SelfAttention(nn.Module):
    """(B, L, width) → (B, L, width). kernel: one of KERNELS; m, projection and redraw_every
    apply to favor (and m, projection to learned's initialisation)."""

    def __init__(
        self,
        width,
        heads=2,
        kernel="softmax",
        m=32,
        projection="orthogonal",
        redraw_every=0,
        causal=False,
    ):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown attention kernel {kernel!r}: expected one of {KERNELS}")
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads, self.kernel, self.causal = heads, kernel, causal
        self.head_dim = width // heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        if kernel == "favor":
            self.features = RandomProjection(m, self.head_dim, projection, redraw_every)
        elif kernel == "learned":
            self.features = LearnedFeatures(self.head_dim, m, projection)

    def forward(self, x):
        b, n, width = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.kernel == "softmax":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            # Softmax's 1/√d temperature, split between queries and keys.
            q, k = q * self.head_dim**-0.25, k * self.head_dim**-0.25
            y = linear_attention(*self._features(q, k), v, causal=self.causal, eps=1e-6)
        return self.out(y.transpose(1, 2).reshape(b, n, width))

    def _features(self, q, k):
        if self.kernel == "relu":
            return relu_features(q), relu_features(k)
        if self.kernel == "exp":
            return exp_features(q), exp_features(k)
        if self.kernel == "favor":
            w = self.features().to(q.dtype)
            lq, lk = (x @ w.T - 0.5 * (x * x).sum(-1, keepdim=True) for x in (q, k))
        else:
            lq, lk = self.features.logits(q), self.features.logits(k)
        # Max-subtraction before exp; the offsets (per query row, one per head for the keys)
        # are constant factors that cancel in the normalisation, causal or not.
        lq = lq - lq.amax(-1, keepdim=True).detach()
        lk = lk - lk.amax((-2, -1), keepdim=True).detach()
        m = lq.shape[-1]
        return torch.exp(lq) / m**0.5, torch.exp(lk) / m**0.5

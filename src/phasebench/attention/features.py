"""Feature maps φ with φ(q)·φ(k) ≈ a kernel κ(q, k); for softmax κ(q, k) = exp(qᵀk).

Random maps take the projection w (m, d) as an argument so callers control the draws. The
`offset` arguments subtract a log-scale before exp: it cancels in normalised attention and
keeps exp from overflowing (pass a per-row max for queries, a global max for keys).
"""

import math

import torch


def relu_features(x, eps=1e-3):
    """Performer-ReLU: deterministic φ(x) = ReLU(x) + ε (m = d)."""
    return torch.relu(x) + eps


def exp_features(x, stabilise=True, over=(-1,)):
    """Performer-exp: deterministic φ(x) = exp(x) (m = d), less its max over the dimensions
    `over`. The offset cancels in normalised attention only where every key shares it: per row
    (the default) suits queries, keys need the max over all their rows (`over=(-2, -1)`)."""
    if stabilise:
        x = x - x.amax(dim=over, keepdim=True).detach()
    return torch.exp(x)


def positive_logits(x, w):
    """The exponents of FAVOR+: wᵢᵀx − ‖x‖²/2, `(..., m)`."""
    return x @ w.T - 0.5 * (x * x).sum(-1, keepdim=True)


def exp_of_logits(logits, offset=None):
    """exp(logits − offset)/√m: positive features from their exponents (FAVOR+, f_θ)."""
    if offset is not None:
        logits = logits - offset
    return torch.exp(logits) / math.sqrt(logits.shape[-1])


def positive_features(x, w, offset=None):
    """FAVOR+ φ⁺(x) = exp(wᵢᵀx − ‖x‖²/2)/√m: positive, unbiased for exp(xᵀy) when w ~ N(0, I)."""
    return exp_of_logits(positive_logits(x, w), offset)


def trig_features(x, w):
    """Trigonometric φ(x) = exp(‖x‖²/2)/√m [cos wᵢᵀx, sin wᵢᵀx]: unbiased for exp(xᵀy) but
    not positive (2m features)."""
    proj = x @ w.T
    scale = torch.exp(0.5 * (x * x).sum(-1, keepdim=True)) / math.sqrt(w.shape[0])
    return torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1) * scale


def hybrid_features(q, k, w_pos, w_trig, w_angle):
    """Hybrid estimator (arXiv 2110.04367): (θ/π)·κ̂⁺ + (1 − θ/π)·κ̂ᵗʳⁱᵍ, θ = angle(q, k).

    P[sign(ωᵀq) ≠ sign(ωᵀk)] = θ/π, so with τ = sign(Ωq) (r rows, drawn independently of the
    other projections) θ/π is estimated without bias by (1 − τ(q)ᵀτ(k)/r)/2. Each product of
    independent unbiased factors is unbiased; the result is a rank (m⁺ + 2mᵗʳⁱᵍ)(r + 1) map.
    Returns (φ_q, φ_k): the query and key maps differ by a sign.
    """
    r = w_angle.shape[0]
    tq, tk = torch.sign(q @ w_angle.T) / math.sqrt(r), torch.sign(k @ w_angle.T) / math.sqrt(r)
    ones_q, ones_k = torch.ones_like(tq[..., :1]), torch.ones_like(tk[..., :1])
    # [1, τq]·[1, −τk] = 1 − τqᵀτk/r and [1, τq]·[1, τk] = 1 + τqᵀτk/r.
    aq = torch.cat([ones_q, tq], -1) * math.sqrt(0.5)
    ak_pos = torch.cat([ones_k, -tk], -1) * math.sqrt(0.5)
    ak_trig = torch.cat([ones_k, tk], -1) * math.sqrt(0.5)
    phi_q = torch.cat(
        [_outer(positive_features(q, w_pos), aq), _outer(trig_features(q, w_trig), aq)], -1
    )
    phi_k = torch.cat(
        [_outer(positive_features(k, w_pos), ak_pos), _outer(trig_features(k, w_trig), ak_trig)],
        -1,
    )
    return phi_q, phi_k


def masked_features(x, v, w, offset=None):
    """Masked kernel exp(qᵀk)·ReLU(v_q)ᵀReLU(v_k): φ⁺(x) ⊗ ReLU(v) is non-negative and
    unbiased (the ReLU factor is exact)."""
    return _outer(positive_features(x, w, offset), torch.relu(v))


def _outer(a, b):
    """Row-wise flattened outer product: (..., m) × (..., n) → (..., m·n)."""
    return (a.unsqueeze(-1) * b.unsqueeze(-2)).flatten(-2)


class LearnedFeatures(torch.nn.Module):
    """Performer-f_θ: φ_θ(x) = exp(Wx + b − s‖x‖²/2)/√m, initialised at FAVOR+ (W = ω, b = 0,
    s = 1) so training starts from an unbiased softmax estimator."""

    def __init__(self, d, m, kind="orthogonal"):
        super().__init__()
        from phasebench.attention.projections import projection

        self.weight = torch.nn.Parameter(projection(m, d, kind, dtype=torch.float32))
        self.bias = torch.nn.Parameter(torch.zeros(m))
        self.log_scale = torch.nn.Parameter(torch.zeros(()))

    def logits(self, x):
        logits = x @ self.weight.to(x.dtype).T + self.bias.to(x.dtype)
        return logits - 0.5 * self.log_scale.exp() * (x * x).sum(-1, keepdim=True)

    def forward(self, x, offset=None):
        return exp_of_logits(self.logits(x), offset)

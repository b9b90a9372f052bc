"""Linear attention D⁻¹ φ(Q)(φ(K)ᵀV) in O(L m d), and its explicit quadratic form for tests."""

import torch


def linear_attention(phi_q, phi_k, v, causal=False, eps=1e-12):
    """Attention with kernel φ(q)·φ(k); shapes (..., L, m), (..., L, m), (..., L, dv).

    Causal: prefix sums of φ(k)vᵀ and φ(k) over positions (memory O(L m dv)).
    """
    if causal:
        kv = torch.cumsum(phi_k.unsqueeze(-1) * v.unsqueeze(-2), dim=-3)  # (..., L, m, dv)
        num = (phi_q.unsqueeze(-2) @ kv).squeeze(-2)
        den = (phi_q * torch.cumsum(phi_k, dim=-2)).sum(-1, keepdim=True)
    else:
        num = phi_q @ (phi_k.transpose(-2, -1) @ v)
        den = phi_q @ phi_k.sum(-2, keepdim=True).transpose(-2, -1)
    return num / (den + eps)


def quadratic_attention(phi_q, phi_k, v, causal=False, eps=1e-12):
    """The same attention built as the explicit L×L matrix (reference for tests, O(L²))."""
    a = phi_q @ phi_k.transpose(-2, -1)
    if causal:
        n = a.shape[-1]
        a = a * torch.tril(torch.ones(n, n, dtype=a.dtype, device=a.device))
    return (a @ v) / (a.sum(-1, keepdim=True) + eps)

"""Torch tools for learned Hamiltonians: the canonical field J∇H and a symplectic step."""

from collections.abc import Callable

import torch

Field = Callable[[torch.Tensor], torch.Tensor]


def canonical_field(hamiltonian: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
    """(∂H/∂p, −∂H/∂q) at x = (q, p) by autograd, differentiable again (for training, and for
    Jacobians of the learned map), also when called under `torch.no_grad()`."""
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(hamiltonian(x).sum(), x, create_graph=True)
    dh_dq, dh_dp = grad.chunk(2, dim=-1)
    return torch.cat([dh_dp, -dh_dq], dim=-1)


def implicit_midpoint_step(field: Field, x: torch.Tensor, h: float, iterations: int):
    """x' = x + h f((x + x')/2) by `iterations` fixed-point sweeps from an explicit Euler guess:
    symplectic for a Hamiltonian field as the iteration converges (its error falls by a factor
    of about h·Lip(f) per sweep)."""
    new = x + h * field(x)
    for _ in range(iterations):
        new = x + h * field(0.5 * (x + new))
    return new

"""Volume-preserving feed-forward network (the VPT paper's VPFF): a one-step map
x_{n+1} = F(x_n), F a composition of x ↦ x + σ(Lx + b) and x ↦ x + σ(Ux + b) with L, U
strictly triangular, so det ∂F/∂x = 1. The paper's size: 6 blocks (L · n_blocks of its VPT)."""

from phasebench import ModelPlugin
from phasebench.layers import volume_preserving_feedforward


class VPFF(ModelPlugin):
    name = "vpff"
    family = "structure-preserving"
    input_steps = output_steps = 1

    def __init__(self, spec, n_blocks: int = 6):
        super().__init__(spec)
        self.net = volume_preserving_feedforward(spec.dim, n_blocks)

    def forward(self, window):  # (B, 1, D) -> (B, 1, D)
        return self.net(window)

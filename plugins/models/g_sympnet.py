"""G-SympNet (Jin et al. 2020): alternating gradient shears of (q, p),
p ← p + Kᵀ diag(a) tanh(K q + b), then q ← q + Kᵀ diag(a) tanh(K p + b), …;
symplectic for any weights, and invertible."""

from phasebench import ModelPlugin
from phasebench.layers import GradientShear, SympNet


class GSympNet(ModelPlugin):
    name = "g_sympnet"
    hparam_schema = {"layers": {"minimum": 1}, "width": {"minimum": 1}}
    family = "structure-preserving"
    requires = ("canonical",)
    input_steps = output_steps = 1

    def __init__(self, spec, layers: int = 8, width: int = 128):
        super().__init__(spec)
        n = spec.dim // 2
        self.net = SympNet([GradientShear(n, width, up=i % 2 == 0) for i in range(layers)])

    def forward(self, window):  # (B, 1, D) -> (B, 1, D)
        return self.net(window)

"""LA-SympNet (Jin et al. 2020): alternating linear and activation shears of (q, p),
x_{n+1} = (A_L ∘ L_L ∘ … ∘ A_1 ∘ L_1)(x_n), symplectic for any weights.

Each linear module is `sublayers` shears p ← p + S q / q ← q + S p (S symmetric); each
activation module is p ← p + a ⊙ tanh(q) (or the same for q). Its parameter count is small
by construction (about n² per linear shear).
"""

from phasebench import ModelPlugin
from phasebench.layers import ActivationShear, LinearShear, SympNet


class LASympNet(ModelPlugin):
    name = "la_sympnet"
    hparam_schema = {"layers": {"minimum": 1}, "sublayers": {"minimum": 1}}
    family = "structure-preserving"
    requires = ("canonical",)
    input_steps = output_steps = 1

    def __init__(self, spec, layers: int = 8, sublayers: int = 4):
        super().__init__(spec)
        n = spec.dim // 2
        modules = []
        for layer in range(layers):
            modules += [LinearShear(n, up=(layer + i) % 2 == 0) for i in range(sublayers)]
            modules.append(ActivationShear(n, up=layer % 2 == 0))
        modules += [LinearShear(n, up=i % 2 == 0) for i in range(sublayers)]
        self.net = SympNet(modules)

    def forward(self, window):  # (B, 1, D) -> (B, 1, D)
        return self.net(window)

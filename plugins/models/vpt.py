"""Volume-preserving transformer (Brantner, de Romemont, Kraus, Li; arXiv 2312.11166):
L × [Z ↦ Z Cayley(ZᵀAZ), A skew-symmetric;  then a volume-preserving feed-forward network on
every time step], acting on the states themselves: the map from T states to the next T has
Jacobian determinant 1. The paper's rigid-body setting: T = 3, L = 3, n_blocks = 2."""

from phasebench import ModelPlugin
from phasebench.layers import FeatureMajor, VolumePreservingAttention, volume_preserving_feedforward


class VPT(ModelPlugin):
    name = "vpt"
    hparam_schema = {
        "window": {"minimum": 1},
        "layers": {"minimum": 1},
        "n_blocks": {"minimum": 1},
    }
    family = "structure-preserving"

    def __init__(self, spec, window: int = 3, layers: int = 3, n_blocks: int = 2):
        super().__init__(spec)
        self.input_steps = self.output_steps = window
        units = []
        for _ in range(layers):
            units += [
                VolumePreservingAttention(spec.dim),
                volume_preserving_feedforward(spec.dim, n_blocks),
            ]
        self.net = FeatureMajor(*units)  # one layout change in, one out

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        return self.net(window)

"""Macaron transformer (Lu et al. 2019): each layer is a Strang splitting,
x ← x + ½FFN₁(x);  x ← MHA(x);  x ← x + ½FFN₂(x),
with FFN₁ and FFN₂ of half the `transformer`'s feed-forward width, so that both have the same
parameters at equal `ff_width`; otherwise the same model as `transformer`."""

from torch import nn

from phasebench import ModelPlugin
from phasebench.layers import MultiHeadAttention, ResNetFeedForward, StrangLayer


class Macaron(ModelPlugin):
    name = "macaron"
    family = "transformer"
    input_steps = output_steps = 3

    def __init__(
        self,
        spec,
        window: int = 3,
        depth: int = 2,
        heads: int = 2,
        embed: int = 16,
        ff_width: int = 32,
        add_connection: bool = True,
        use_bias: bool = True,
    ):
        super().__init__(spec)
        self.input_steps = self.output_steps = window
        dim = embed or spec.dim
        self.embed = nn.Linear(spec.dim, embed) if embed else None
        self.readout = nn.Linear(embed, spec.dim) if embed else None
        self.layers = nn.Sequential(
            *(
                StrangLayer(
                    MultiHeadAttention(dim, heads, add_connection=add_connection),
                    ResNetFeedForward(dim, ff_width // 2, use_bias),
                    ResNetFeedForward(dim, ff_width // 2, use_bias),
                )
                for _ in range(depth)
            )
        )

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        x = self.layers(self.embed(window) if self.embed else window)
        return window + self.readout(x) if self.readout else x

"""Macaron transformer (Lu et al. 2019): each layer is a Strang splitting,
x ← x + ½FFN₁(x);  x ← MHA(x);  x ← x + ½FFN₂(x),
with FFN₁ and FFN₂ of half the `transformer`'s feed-forward width, so that both have the same
parameters at equal `ff_width`; otherwise the same model as `transformer`."""

from phasebench import ModelPlugin
from phasebench.layers import MultiHeadAttention, ResNetFeedForward, StrangLayer, WindowTransformer


class Macaron(ModelPlugin):
    name = "macaron"
    hparam_schema = {
        "window": {"minimum": 1},
        "depth": {"minimum": 1},
        "heads": {"minimum": 1},
        "embed": {"minimum": 0},
        "ff_width": {"minimum": 0},
    }
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

        def layer(width):
            return StrangLayer(
                MultiHeadAttention(width, heads, add_connection=add_connection),
                ResNetFeedForward(width, ff_width // 2, use_bias),
                ResNetFeedForward(width, ff_width // 2, use_bias),
            )

        self.body = WindowTransformer(spec.dim, window, embed, depth, layer)

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        return self.body(window)

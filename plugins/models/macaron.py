"""Macaron transformer (Lu et al. 2019): each layer is a Strang splitting,
x ← x + ½FFN₁(x);  x ← MHA(x);  x ← x + ½FFN₂(x),
with FFN₁ and FFN₂ of half the `transformer`'s feed-forward width, so that both have the same
parameters at equal `ff_width`; otherwise the same model as `transformer`."""

from phasebench.layers import (
    MultiHeadAttention,
    ResNetFeedForward,
    StrangLayer,
    WindowTransformerPlugin,
)


class Macaron(WindowTransformerPlugin):
    name = "macaron"

    def __init__(self, spec, add_connection: bool = True, use_bias: bool = True, **body):
        super().__init__(spec, add_connection=add_connection, use_bias=use_bias, **body)

    def layer(self, width, add_connection, use_bias):
        return StrangLayer(
            MultiHeadAttention(width, self.heads, add_connection=add_connection),
            ResNetFeedForward(width, self.ff_width // 2, use_bias),
            ResNetFeedForward(width, self.ff_width // 2, use_bias),
        )

"""Transformer as a learned integrator (CEMRACS 2023): a window of T states in, the next T out.

x ← E(window) (+ positions);  L × [x ← MHA(x);  x ← x + FFN(x)];  next = window + R(x),
with E, R linear maps to and from `embed` dimensions. With `embed = 0` the layers act on the
states themselves and their output is the prediction, as in the CEMRACS code; `ff_width = 0`
gives its ResNet x + tanh(Wx + b). The Stiefel transformer is this plugin with `stiefel: true`.
"""

from phasebench import ModelPlugin
from phasebench.layers import WindowTransformer, transformer_layer


class Transformer(ModelPlugin):
    name = "transformer"
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
        stiefel: bool = False,
        scale: bool = True,
        positional: bool = False,
    ):
        super().__init__(spec)
        self.input_steps = self.output_steps = window

        def layer(width):
            return transformer_layer(
                width, heads, ff_width, stiefel, scale, add_connection, use_bias
            )

        self.body = WindowTransformer(spec.dim, window, embed, depth, layer, positional)

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        return self.body(window)

"""Transformer as a learned integrator (CEMRACS 2023): a window of T states in, the next T out.

x ← E(window) (+ positions);  L × [x ← MHA(x);  x ← x + FFN(x)];  next = window + R(x),
with E, R linear maps to and from `embed` dimensions. With `embed = 0` the layers act on the
states themselves and their output is the prediction, as in the CEMRACS code; `ff_width = 0`
gives its ResNet x + tanh(Wx + b). The Stiefel transformer is this plugin with `stiefel: true`.
The shared hyperparameters (window, depth, heads, embed, ff_width) are `WindowTransformerPlugin`'s.
"""

from phasebench.layers import WindowTransformerPlugin, transformer_layer


class Transformer(WindowTransformerPlugin):
    name = "transformer"

    def __init__(
        self,
        spec,
        add_connection: bool = True,
        use_bias: bool = True,
        stiefel: bool = False,
        scale: bool = True,
        positional: bool = False,
        **body,
    ):
        super().__init__(
            spec, add_connection=add_connection, use_bias=use_bias, stiefel=stiefel,
            scale=scale, positional=positional, **body,
        )  # fmt: skip

    def layer(self, width, stiefel, scale, add_connection, use_bias):
        return transformer_layer(
            width, self.heads, self.ff_width, stiefel, scale, add_connection, use_bias
        )

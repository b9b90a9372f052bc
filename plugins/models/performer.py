"""Performers (Choromanski et al. 2020): the `transformer` plugin's body with its softmax
attention replaced by linear attention D⁻¹φ(Q)(φ(K)ᵀV), so only the attention differs.

performer_relu: φ = ReLU;  performer_exp: φ = exp;  performer_favor: FAVOR+ positive random
features (m of them, orthogonal or iid, redrawn every `redraw_every` training steps);
performer_learned: a learnable f_θ initialised at FAVOR+.
"""

from phasebench import ModelPlugin
from phasebench.attention import KernelAttention
from phasebench.layers import WindowTransformer, transformer_layer


class _Performer(ModelPlugin):
    abstract = True
    family = "transformer"
    input_steps = output_steps = 3
    kernel = "relu"
    hparam_schema = {
        "window": {"minimum": 1},
        "depth": {"minimum": 1},
        "heads": {"minimum": 1},
        "embed": {"minimum": 0},
        "ff_width": {"minimum": 0},
    }

    def __init__(
        self,
        spec,
        window: int = 3,
        depth: int = 2,
        heads: int = 2,
        embed: int = 16,
        ff_width: int = 32,
        **features,
    ):
        super().__init__(spec)
        self.input_steps = self.output_steps = window

        def layer(width):
            kernel = KernelAttention(width // heads, self.kernel, **features)
            return transformer_layer(width, heads, ff_width, kernel=kernel)

        self.body = WindowTransformer(spec.dim, window, embed, depth, layer)

    def forward(self, window):  # (B, T, D) -> (B, T, D)
        return self.body(window)


class PerformerReLU(_Performer):
    name = "performer_relu"
    kernel = "relu"


class PerformerExp(_Performer):
    name = "performer_exp"
    kernel = "exp"


class PerformerFavor(_Performer):
    name = "performer_favor"
    kernel = "favor"

    def __init__(
        self,
        spec,
        window: int = 3,
        depth: int = 2,
        heads: int = 2,
        embed: int = 16,
        ff_width: int = 32,
        m: int = 32,
        projection: str = "orthogonal",
        redraw_every: int = 100,
    ):
        super().__init__(
            spec, window, depth, heads, embed, ff_width,
            m=m, projection=projection, redraw_every=redraw_every,
        )  # fmt: skip


class PerformerLearned(_Performer):
    name = "performer_learned"
    kernel = "learned"

    def __init__(
        self,
        spec,
        window: int = 3,
        depth: int = 2,
        heads: int = 2,
        embed: int = 16,
        ff_width: int = 32,
        m: int = 32,
    ):
        super().__init__(spec, window, depth, heads, embed, ff_width, m=m)

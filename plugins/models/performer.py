"""Performers (Choromanski et al. 2020): the `transformer` plugin's body with its softmax
attention replaced by linear attention D⁻¹φ(Q)(φ(K)ᵀV), so only the attention differs.

performer_relu: φ = ReLU;  performer_exp: φ = exp;  performer_favor: FAVOR+ positive random
features (m of them, orthogonal or iid, redrawn every `redraw_every` training steps);
performer_learned: a learnable f_θ initialised at FAVOR+.
"""

from phasebench.attention import KernelAttention
from phasebench.layers import WindowTransformerPlugin, transformer_layer


class _Performer(WindowTransformerPlugin):
    abstract = True
    kernel = "relu"

    def layer(self, width, **features):
        kernel = KernelAttention(width // self.heads, self.kernel, **features)
        return transformer_layer(width, self.heads, self.ff_width, kernel=kernel)


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
        self, spec, m: int = 32, projection: str = "orthogonal", redraw_every: int = 100, **body
    ):
        super().__init__(spec, m=m, projection=projection, redraw_every=redraw_every, **body)


class PerformerLearned(_Performer):
    name = "performer_learned"
    kernel = "learned"

    def __init__(self, spec, m: int = 32, **body):
        super().__init__(spec, m=m, **body)

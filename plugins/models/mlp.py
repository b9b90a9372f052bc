"""A multilayer perceptron from a window of T states to the next T, as increments of the last
known state: (x_{n+1..n+T}) = x_n + MLP(x_{n−T+1..n})."""

from itertools import pairwise

from torch import nn

from phasebench import ModelPlugin


class MLP(ModelPlugin):
    name = "mlp"
    hparam_schema = {"width": {"minimum": 1}, "depth": {"minimum": 1}}
    family = "feed-forward"
    input_steps = output_steps = 4

    def __init__(self, spec, width: int = 56, depth: int = 2):
        super().__init__(spec)
        sizes = [self.input_steps * spec.dim] + [width] * depth
        hidden = [m for a, b in pairwise(sizes) for m in (nn.Linear(a, b), nn.Tanh())]
        self.net = nn.Sequential(*hidden, nn.Linear(sizes[-1], self.output_steps * spec.dim))

    def forward(self, window):  # (B, 4, D) -> (B, 4, D)
        increments = self.net(window.flatten(1)).view_as(window)
        return window[:, -1:] + increments

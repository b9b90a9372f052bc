"""One-step residual map x_{n+1} = x_n + MLP(x_n), iterated for rollouts."""

from itertools import pairwise

from torch import nn

from phasebench import ModelPlugin


class ResNet(ModelPlugin):
    name = "resnet"
    family = "feed-forward"
    input_steps = output_steps = 1
    hparam_schema = {"width": {"minimum": 1}, "depth": {"minimum": 1}}  # checked by validation

    def __init__(self, spec, width: int = 64, depth: int = 2):
        super().__init__(spec)
        sizes = [spec.dim] + [width] * depth
        hidden = [m for a, b in pairwise(sizes) for m in (nn.Linear(a, b), nn.Tanh())]
        self.net = nn.Sequential(*hidden, nn.Linear(sizes[-1], spec.dim))

    def forward(self, window):  # (B, 1, D) -> (B, 1, D)
        return window + self.net(window)

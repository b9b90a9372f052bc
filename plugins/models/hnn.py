"""Hamiltonian neural network (Greydanus et al. 2019): an MLP H_θ(q, p), the field
(∂H_θ/∂p, −∂H_θ/∂q) by autograd, stepped over dt by the symplectic implicit midpoint rule:
x_{n+1} = x_n + dt J∇H_θ((x_n + x_{n+1})/2), solved to roundoff (so that the learned map is
symplectic to roundoff, not to the error of a fixed number of sweeps). Trained on steps through
the integrator."""

from itertools import pairwise

from torch import nn

from phasebench import ModelPlugin
from phasebench.layers import SolveLog, canonical_field, implicit_midpoint_step


class HNN(ModelPlugin):
    name = "hnn"
    hparam_schema = {"width": {"minimum": 1}, "depth": {"minimum": 1}, "substeps": {"minimum": 1}}
    family = "structure-preserving"
    requires = ("canonical",)
    input_steps = output_steps = 1

    def __init__(
        self,
        spec,
        width: int = 64,
        depth: int = 2,
        substeps: int = 2,
        max_iterations: int = 50,
        tolerance: float | None = None,
    ):
        super().__init__(spec)
        sizes = [spec.dim] + [width] * depth
        hidden = [m for a, b in pairwise(sizes) for m in (nn.Linear(a, b), nn.Tanh())]
        self.energy = nn.Sequential(*hidden, nn.Linear(sizes[-1], 1))
        self.substeps, self.max_iterations, self.tolerance = substeps, max_iterations, tolerance
        self.solve_log = SolveLog()  # unconverged solves are recorded, not fatal

    def hamiltonian(self, x):
        return self.energy(x).squeeze(-1)

    def field(self, x):
        return canonical_field(self.hamiltonian, x)

    def forward(self, window):  # (B, 1, D) -> (B, 1, D)
        x, h = window[:, 0], self.spec.dt / self.substeps
        for _ in range(self.substeps):
            x = implicit_midpoint_step(
                self.field, x, h, self.max_iterations, self.tolerance, self.solve_log
            )
        return x[:, None]

    def diagnostics(self) -> dict:
        return self.solve_log.as_dict()

"""A chain of n unit masses, each on its own spring, coupled to its neighbours (free ends).

H = Σ p_i²/2 + Σ q_i²/2 + κ/2 Σ (q_{i+1} − q_i)² + β/4 Σ (q_{i+1} − q_i)⁴
(β > 0 adds the Fermi–Pasta–Ulam quartic coupling). The default 25 masses give 50 dof.
"""

import numpy as np

from phasebench import System
from phasebench.system import canonical_names


class OscillatorChain(System):
    name = "oscillator_chain"
    canonical = True
    separable = True
    # Separable: a symplectic splitting; order 4 with two substeps keeps the relative energy
    # error below 1e-6 at dt = 0.1.
    default_integrator = "yoshida4"
    default_dt = 0.1
    default_substeps = 2
    parameters = {"n": 25.0, "kappa": 0.1, "beta": 0.0}
    structural = ("n",)  # the number of masses: the state's dimension

    @property
    def n(self) -> int:
        return int(self.params["n"])

    @property
    def state_names(self):
        return canonical_names(self.n)

    def hamiltonian(self, x):
        q, p = x[..., : self.n], x[..., self.n :]
        d = q[..., 1:] - q[..., :-1]
        energy = (
            (p * p).sum(-1) / 2 + (q * q).sum(-1) / 2 + self.params["kappa"] / 2 * (d * d).sum(-1)
        )
        if np.any(self.params["beta"]):
            energy = energy + self.params["beta"] / 4 * (d * d * d * d).sum(-1)
        return energy

    def vector_field(self, x):
        return np.concatenate([self.velocity(x[..., self.n :]), self.force(x[..., : self.n])], -1)

    # The two halves of the field on their own, so that splitting methods evaluate only the
    # half they need (this system is the simulation benchmark's).
    def velocity(self, p):
        return p

    def force(self, q):
        d = np.diff(q, axis=-1)
        tension = self.per_component("kappa") * d
        if np.any(self.params["beta"]):
            tension = tension + self.per_component("beta") * d * d * d
        force = -q
        force[..., 1:] -= tension
        force[..., :-1] += tension
        return force

    def sample_initial(self, rng, n):
        return rng.normal(0.0, 0.5, size=(n, 2 * self.n))

    def sample_ood(self, rng, n):
        # Twice the amplitude: four times the typical training energy.
        return rng.normal(0.0, 1.0, size=(n, 2 * self.n))

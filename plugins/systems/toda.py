"""The periodic Toda lattice: H = Σ p_i²/2 + Σ exp(q_i − q_{i+1}), q_{n+1} = q_1.

Integrable: besides the energy, the total momentum Σ p_i and the cubic integral
K3 = Σ p_i³ + 3 Σ exp(q_i − q_{i+1}) (p_i + p_{i+1}) (from tr L³ of the Lax matrix) are conserved.
"""

import numpy as np

from phasebench import System
from phasebench.system import canonical_names


class Toda(System):
    name = "toda"
    canonical = True
    separable = True
    # Separable: a symplectic splitting; order 4 keeps all three integrals to about 1e-6.
    default_integrator = "yoshida4"
    default_dt = 0.1
    default_substeps = 4
    parameters = {"n": 4.0}
    structural = ("n",)  # the number of particles: the state's dimension

    @property
    def n(self) -> int:
        return int(self.params["n"])

    @property
    def state_names(self):
        return canonical_names(self.n)

    def _bonds(self, q):
        xp = self.xp(q)
        following = xp.roll(q, -1, -1) if xp is np else xp.roll(q, -1, dims=-1)
        return xp.exp(q - following)  # exp(q_i − q_{i+1}), periodic

    def hamiltonian(self, x):
        q, p = x[..., : self.n], x[..., self.n :]
        return (p**2).sum(-1) / 2 + self._bonds(q).sum(-1)

    def vector_field(self, x):
        q, p = x[..., : self.n], x[..., self.n :]
        bonds = self._bonds(q)
        # ∂/∂q_i of Σ exp(q_j − q_{j+1}) = exp(q_i − q_{i+1}) − exp(q_{i−1} − q_i)
        grad = bonds - np.roll(bonds, 1, axis=-1)
        return np.concatenate([p, -grad], axis=-1)

    def invariants(self, x):
        q, p = x[..., : self.n], x[..., self.n :]
        bonds = self._bonds(q)
        following = np.roll(p, -1, axis=-1)
        return {
            "energy": self.hamiltonian(x),
            "momentum": p.sum(-1),
            "k3": (p**3).sum(-1) + 3 * (bonds * (p + following)).sum(-1),
        }

    def sample_initial(self, rng, n):
        return rng.normal(0.0, 0.5, size=(n, 2 * self.n))

    def sample_ood(self, rng, n):
        return rng.normal(0.0, 1.0, size=(n, 2 * self.n))

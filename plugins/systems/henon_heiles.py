"""The Hénon–Heiles system, H = ½(p1² + p2²) + ½(q1² + q2²) + q1² q2 − q2³/3.

Bounded for H < 1/6, and increasingly chaotic as H approaches 1/6. Training energies lie in
[0.02, 0.10]; the out-of-distribution split in [0.12, 0.16].
"""

import numpy as np

from phasebench import System


def _sample_shell(system, rng, n, low, high):
    """Rejection sampling of states with low <= H < high (inside the bounded well)."""
    found = []
    while sum(len(f) for f in found) < n:
        x = rng.uniform(-0.55, 0.55, size=(4 * n, 4))
        energy = system.hamiltonian(x)
        found.append(x[(energy >= low) & (energy < high)])
    return np.concatenate(found)[:n]


class HenonHeiles(System):
    name = "henon_heiles"
    state_names = ("q1", "q2", "p1", "p2")
    canonical = True
    separable = True
    # Separable: a symplectic splitting keeps the energy bounded on chaotic orbits too.
    default_integrator = "yoshida4"
    default_dt = 0.1
    default_substeps = 2

    def hamiltonian(self, x):
        q1, q2, p1, p2 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
        return (p1**2 + p2**2) / 2 + (q1**2 + q2**2) / 2 + q1**2 * q2 - q2**3 / 3

    def vector_field(self, x):
        q1, q2, p1, p2 = np.moveaxis(x, -1, 0)
        return np.stack([p1, p2, -q1 - 2 * q1 * q2, -q2 - q1**2 + q2**2], axis=-1)

    def sample_initial(self, rng, n):
        return _sample_shell(self, rng, n, 0.02, 0.10)

    def sample_ood(self, rng, n):
        return _sample_shell(self, rng, n, 0.12, 0.16)

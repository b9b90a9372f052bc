"""The mathematical pendulum, H = p²/(2ml²) + mgl(1 − cos q) (settings of DeepMind's
Hamiltonian dynamics suite: m = 0.5, g = 3, l = 1, radius of (q, p) in [1.3, 2.3])."""

import numpy as np

from phasebench import System


class Pendulum(System):
    name = "pendulum"
    state_names = ("q", "p")
    canonical = True
    separable = True
    # Separable: a symplectic splitting keeps the energy bounded over long runs.
    default_integrator = "yoshida4"
    default_dt = 0.1
    default_substeps = 4
    parameters = {"m": 0.5, "g": 3.0, "l": 1.0}
    positive = ("m", "g", "l")  # must be > 0, in params and sweeps

    def hamiltonian(self, x):
        m, g, length = self.params["m"], self.params["g"], self.params["l"]
        q, p = x[..., 0], x[..., 1]
        return p**2 / (2 * m * length**2) + m * g * length * (1 - self.xp(x).cos(q))

    def vector_field(self, x):
        m, g, length = self.params["m"], self.params["g"], self.params["l"]
        q, p = x[..., 0], x[..., 1]
        return np.stack([p / (m * length**2), -m * g * length * np.sin(q)], axis=-1)

    def _ring(self, rng, n, low, high):
        radius, angle = rng.uniform(low, high, size=n), rng.uniform(0, 2 * np.pi, size=n)
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)

    def sample_initial(self, rng, n):
        return self._ring(rng, n, 1.3, 2.3)

    def sample_ood(self, rng, n):
        # A higher energy shell: beyond the largest energy on the training ring's outer edge.
        ceiling = self.hamiltonian(self._ring(np.random.default_rng(0), 4096, 2.3, 2.3)).max()
        found = []
        while sum(len(f) for f in found) < n:
            x = self._ring(rng, 4 * n, 2.3, 3.2)
            found.append(x[self.hamiltonian(x) > ceiling])
        return np.concatenate(found)[:n]

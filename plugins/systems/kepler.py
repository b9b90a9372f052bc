"""Two bodies in the plane under gravity: H = Σ ‖p_i‖²/2m_i − G m1 m2 / ‖q1 − q2‖.

Conserved: energy, angular momentum and total momentum. Orbits start at periapsis with the
centre of mass at rest, semi-major axis a ∈ [0.8, 1.2] and eccentricity e ∈ [0, 0.5] (the
out-of-distribution split: e ∈ [0.5, 0.7]).
"""

import numpy as np

from phasebench import System


class Kepler(System):
    name = "kepler"
    state_names = ("x1", "y1", "x2", "y2", "px1", "py1", "px2", "py2")
    canonical = True
    separable = True
    # Separable: a symplectic splitting keeps energy and (exactly) angular momentum; order 6
    # with substeps resolves the periapsis passages of eccentric orbits.
    default_integrator = "yoshida6"
    default_dt = 0.1
    default_substeps = 4
    parameters = {"m1": 1.0, "m2": 1.0, "G": 1.0}
    positive = ("m1", "m2", "G")  # must be > 0, in params and sweeps

    def hamiltonian(self, x):
        m1, m2, grav = self.params["m1"], self.params["m2"], self.params["G"]
        kinetic = (x[..., 4] ** 2 + x[..., 5] ** 2) / (2 * m1)
        kinetic = kinetic + (x[..., 6] ** 2 + x[..., 7] ** 2) / (2 * m2)
        distance = ((x[..., 0] - x[..., 2]) ** 2 + (x[..., 1] - x[..., 3]) ** 2) ** 0.5
        return kinetic - grav * m1 * m2 / distance

    def vector_field(self, x):
        m1, m2, grav = (self.per_component(k) for k in ("m1", "m2", "G"))
        r = x[..., 0:2] - x[..., 2:4]
        distance = np.linalg.norm(r, axis=-1, keepdims=True)
        force = -grav * m1 * m2 * r / distance**3  # on body 1; body 2 feels the opposite
        velocity = np.concatenate([x[..., 4:6] / m1, x[..., 6:8] / m2], axis=-1)
        return np.concatenate([velocity, force, -force], axis=-1)

    def invariants(self, x):
        angular = sum(x[..., i] * x[..., i + 5] - x[..., i + 1] * x[..., i + 4] for i in (0, 2))
        return {
            "energy": self.hamiltonian(x),
            "angular_momentum": angular,
            "momentum_x": x[..., 4] + x[..., 6],
            "momentum_y": x[..., 5] + x[..., 7],
        }

    def _orbits(self, rng, n, e_low, e_high):
        m1, m2, grav = self.params["m1"], self.params["m2"], self.params["G"]
        total = m1 + m2
        a, e = rng.uniform(0.8, 1.2, n), rng.uniform(e_low, e_high, n)
        angle = rng.uniform(0, 2 * np.pi, n)
        r_peri = a * (1 - e)
        v_peri = np.sqrt(grav * total * (1 + e) / r_peri)  # vis-viva at periapsis
        direction = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        normal = np.stack([-np.sin(angle), np.cos(angle)], axis=-1)
        r, v = r_peri[:, None] * direction, v_peri[:, None] * normal
        # Split the relative orbit between the bodies, centre of mass at rest at the origin.
        q1, q2 = m2 / total * r, -m1 / total * r
        p1, p2 = m1 * m2 / total * v, -m1 * m2 / total * v
        return np.concatenate([q1, q2, p1, p2], axis=-1)

    def sample_initial(self, rng, n):
        return self._orbits(rng, n, 0.0, 0.5)

    def sample_ood(self, rng, n):
        return self._orbits(rng, n, 0.5, 0.7)

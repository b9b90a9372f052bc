"""Two pendulums, the second hanging from the first (angles from the vertical).

With Δ = q1 − q2 and D = m1 + m2 sin²Δ,
H = [m2 l2² p1² + (m1+m2) l1² p2² − 2 m2 l1 l2 p1 p2 cos Δ] / (2 m2 l1² l2² D)
    − (m1+m2) g l1 cos q1 − m2 g l2 cos q2.
Settings of DeepMind's Hamiltonian dynamics suite: m = 0.5, g = 3, l = 1.
"""

import numpy as np

from phasebench import System


class DoublePendulum(System):
    name = "double_pendulum"
    state_names = ("q1", "q2", "p1", "p2")
    canonical = True
    separable = False
    # The kinetic energy depends on q1 − q2, so splitting methods do not apply; implicit
    # midpoint is symplectic for any H (eight substeps: energy error about 4e-4).
    default_integrator = "implicit_midpoint"
    default_dt = 0.1
    default_substeps = 8
    parameters = {"m1": 0.5, "m2": 0.5, "l1": 1.0, "l2": 1.0, "g": 3.0}
    positive = ("m1", "m2", "l1", "l2", "g")  # must be > 0, in params and sweeps

    def _unpack(self):
        return (self.params[k] for k in ("m1", "m2", "l1", "l2", "g"))

    def hamiltonian(self, x):
        xp = self.xp(x)
        m1, m2, l1, l2, g = self._unpack()
        q1, q2, p1, p2 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
        delta = q1 - q2
        numerator = (
            m2 * l2**2 * p1**2
            + (m1 + m2) * l1**2 * p2**2
            - 2 * m2 * l1 * l2 * p1 * p2 * xp.cos(delta)
        )
        kinetic = numerator / (2 * m2 * l1**2 * l2**2 * (m1 + m2 * xp.sin(delta) ** 2))
        return kinetic - (m1 + m2) * g * l1 * xp.cos(q1) - m2 * g * l2 * xp.cos(q2)

    def vector_field(self, x):
        m1, m2, l1, l2, g = self._unpack()
        q1, q2, p1, p2 = np.moveaxis(x, -1, 0)
        delta = q1 - q2
        d = m1 + m2 * np.sin(delta) ** 2
        numerator = (
            m2 * l2**2 * p1**2
            + (m1 + m2) * l1**2 * p2**2
            - 2 * m2 * l1 * l2 * p1 * p2 * np.cos(delta)
        )
        # ∂T/∂Δ, which enters ṗ1 with a minus and ṗ2 with a plus sign.
        dt_ddelta = p1 * p2 * np.sin(delta) / (l1 * l2 * d) - numerator * np.sin(2 * delta) / (
            2 * l1**2 * l2**2 * d**2
        )
        return np.stack(
            [
                (l2 * p1 - l1 * p2 * np.cos(delta)) / (l1**2 * l2 * d),
                ((m1 + m2) * l1 * p2 - m2 * l2 * p1 * np.cos(delta)) / (m2 * l1 * l2**2 * d),
                -dt_ddelta - (m1 + m2) * g * l1 * np.sin(q1),
                dt_ddelta - m2 * g * l2 * np.sin(q2),
            ],
            axis=-1,
        )

    def sample_initial(self, rng, n):
        angles = rng.uniform(-np.pi / 4, np.pi / 4, size=(n, 2))
        return np.concatenate([angles, rng.uniform(-0.3, 0.3, size=(n, 2))], axis=1)

    def sample_ood(self, rng, n):
        # Larger swings: angles beyond any training state, where the motion turns chaotic.
        sign = rng.choice([-1.0, 1.0], size=(n, 2))
        angles = sign * rng.uniform(np.pi / 4, np.pi / 3, size=(n, 2))
        return np.concatenate([angles, rng.uniform(-0.3, 0.3, size=(n, 2))], axis=1)

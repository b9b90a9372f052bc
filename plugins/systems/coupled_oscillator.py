"""Two masses on springs, coupled by a spring whose stiffness switches on with q1 (CEMRACS 2023).

H = p1²/2m1 + p2²/2m2 + k1 q1²/2 + k2 q2²/2 + k σ(q1) (q2 − q1)²/2,  σ the logistic sigmoid.
H = T(p) + V(q) is separable, so the symplectic Störmer–Verlet method integrates it.
"""

import numpy as np

from phasebench import System


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class CoupledOscillator(System):
    name = "coupled_oscillator"
    state_names = ("q1", "q2", "p1", "p2")
    canonical = True
    separable = True
    default_integrator = "stormer_verlet"
    default_dt = 0.4  # the published sampling step h
    parameters = {"m1": 2.0, "m2": 1.0, "k1": 1.5, "k2": 0.3, "k": 1.0}

    def hamiltonian(self, x):
        m1, m2, k1, k2, k = (self.params[n] for n in ("m1", "m2", "k1", "k2", "k"))
        q1, q2, p1, p2 = np.moveaxis(x, -1, 0)
        kinetic = p1**2 / (2 * m1) + p2**2 / (2 * m2)
        return kinetic + k1 * q1**2 / 2 + k2 * q2**2 / 2 + k * sigmoid(q1) * (q2 - q1) ** 2 / 2

    def vector_field(self, x):
        m1, m2, k1, k2, k = (self.params[n] for n in ("m1", "m2", "k1", "k2", "k"))
        q1, q2, p1, p2 = np.moveaxis(x, -1, 0)
        s, d = sigmoid(q1), q2 - q1
        dv_dq1 = k1 * q1 + k * (s * (1 - s) * d**2 / 2 - s * d)
        dv_dq2 = k2 * q2 + k * s * d
        return np.stack([p1 / m1, p2 / m2, -dv_dq1, -dv_dq2], axis=-1)

    def sample_initial(self, rng, n):
        # Perturbations of the published initial state q0 = (1, 0), p0 = (2, 0).
        center = np.array([1.0, 0.0, 2.0, 0.0])
        return center + rng.uniform(-0.5, 0.5, size=(n, 4))

"""Two masses on springs, coupled by a spring whose stiffness switches on with q1 (CEMRACS 2023).

H = p1²/2m1 + p2²/2m2 + k1 q1²/2 + k2 q2²/2 + k σ(q1) (q2 − q1)²/2,  σ the logistic sigmoid.
"""

import numpy as np

from phasebench import System

CENTER = np.array([1.0, 0.0, 2.0, 0.0])


class CoupledOscillator(System):
    name = "coupled_oscillator"
    state_names = ("q1", "q2", "p1", "p2")
    canonical = True
    separable = True
    # H = T(p) + V(q): a symplectic splitting method keeps the energy bounded; order 4 with
    # four substeps keeps its relative error near 1e-5 at the published step.
    default_integrator = "yoshida4"
    default_dt = 0.4  # the published sampling step h
    default_substeps = 4
    parameters = {"m1": 2.0, "m2": 1.0, "k1": 1.5, "k2": 0.3, "k": 1.0}
    positive = ("m1", "m2")  # must be > 0, in params and sweeps

    def hamiltonian(self, x):
        xp, p = self.xp(x), self.params
        q1, q2, p1, p2 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
        sigma = 1 / (1 + xp.exp(-q1))
        kinetic = p1**2 / (2 * p["m1"]) + p2**2 / (2 * p["m2"])
        springs = p["k1"] * q1**2 / 2 + p["k2"] * q2**2 / 2
        return kinetic + springs + p["k"] * sigma * (q2 - q1) ** 2 / 2

    def vector_field(self, x):
        p = self.params
        q1, q2, p1, p2 = np.moveaxis(x, -1, 0)
        s, d = 1 / (1 + np.exp(-q1)), q2 - q1
        dv_dq1 = p["k1"] * q1 + p["k"] * (s * (1 - s) * d**2 / 2 - s * d)
        dv_dq2 = p["k2"] * q2 + p["k"] * s * d
        return np.stack([p1 / p["m1"], p2 / p["m2"], -dv_dq1, -dv_dq2], axis=-1)

    def sample_initial(self, rng, n):
        # Perturbations of the published initial state q0 = (1, 0), p0 = (2, 0).
        return CENTER + rng.uniform(-0.5, 0.5, size=(n, 4))

    def sample_ood(self, rng, n):
        # A higher energy shell: states from a wider box whose energy exceeds every state of
        # the training box (its largest energy is at one of its corners).
        corners = CENTER + 0.5 * np.array(np.meshgrid(*[[-1, 1]] * 4)).reshape(4, -1).T
        ceiling = self.hamiltonian(corners).max()
        found = []
        while sum(len(f) for f in found) < n:
            x = CENTER + rng.uniform(-1.5, 1.5, size=(4 * n, 4))
            found.append(x[self.hamiltonian(x) > ceiling])
        return np.concatenate(found)[:n]

"""The free rigid body (Euler's equations), a Lie–Poisson system: not canonical.

ż = (a z2 z3, b z1 z3, c z1 z2),  a = 1/I3 − 1/I2,  b = 1/I1 − 1/I3,  c = 1/I2 − 1/I1,
H = ½ Σ z_i²/I_i, and the Casimir ‖z‖² is conserved along every solution.
By default the data set is exactly the volume-preserving transformer paper's: I = (2, 1, 2/3),
z0 ∈ {(sin v, 0, cos v), (0, sin v, cos v) : v = 0.1:0.01:2π} (1238 trajectories), h = 0.2,
t ∈ [0, 20].
"""

import numpy as np

from phasebench import System


class RigidBody(System):
    name = "rigid_body"
    state_names = ("z1", "z2", "z3")
    canonical = False
    separable = False
    # Implicit midpoint conserves every quadratic invariant exactly (‖z‖² and H); the paper's.
    default_integrator = "implicit_midpoint"
    default_dt = 0.2
    default_substeps = 1
    default_n_steps = 100
    parameters = {"I1": 2.0, "I2": 1.0, "I3": 2.0 / 3.0}
    positive = ("I1", "I2", "I3")  # must be > 0, in params and sweeps

    def _abc(self):
        i1, i2, i3 = (self.params[k] for k in ("I1", "I2", "I3"))
        return 1 / i3 - 1 / i2, 1 / i1 - 1 / i3, 1 / i2 - 1 / i1

    def hamiltonian(self, x):
        inertia = (self.params["I1"], self.params["I2"], self.params["I3"])
        return sum(x[..., i] ** 2 / (2 * inertia[i]) for i in range(3))

    def vector_field(self, x):
        a, b, c = self._abc()
        z1, z2, z3 = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([a * z2 * z3, b * z1 * z3, c * z1 * z2], axis=-1)

    def invariants(self, x):
        return {"energy": self.hamiltonian(x), "casimir": (x**2).sum(-1)}

    def reference_initial_states(self):
        v = np.arange(0.1, 2 * np.pi, 0.01)
        zeros = np.zeros_like(v)
        first = np.stack([np.sin(v), zeros, np.cos(v)], axis=-1)
        second = np.stack([zeros, np.sin(v), np.cos(v)], axis=-1)
        return np.concatenate([first, second])

    def sample_initial(self, rng, n):
        z = rng.normal(size=(n, 3))
        return z / np.linalg.norm(z, axis=1, keepdims=True)  # uniform on the unit sphere

    def sample_ood(self, rng, n):
        return 1.5 * self.sample_initial(rng, n)  # a larger sphere: other Casimir and energy

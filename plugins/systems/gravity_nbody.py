"""N bodies under softened gravity, the Hamiltonian sibling of nbody_charged for long
rollouts: H = Σ ‖p_i‖²/2m_i − Σ_{i<j} G m_i m_j / √(‖x_i − x_j‖² + ε²), masses the
per-particle feature.

Masses uniform in [0.5, 1.5], positions N(0, 1), velocities N(0, 0.3²) per component with the
total momentum removed (the centre of mass drifts not); test_ood: velocities N(0, 0.6²).
"""

import numpy as np

from phasebench.particles import PairPotential


class GravityNBody(PairPotential):
    name = "gravity_nbody"
    # Separable: Yoshida's order 4 with 20 substeps keeps the softened energy near 1e-6.
    default_integrator = "yoshida4"
    default_dt = 0.1
    default_substeps = 20
    default_n_steps = 100
    default_n_trajectories = 128
    parameters = {
        "particles": 4.0,
        "space_dim": 2.0,
        "G": 1.0,
        "softening": 0.2,
        "force_clip": 0.0,
        "speed": 0.3,
    }
    feature_names = ("mass",)

    def coupling(self):
        mass = self.feature("mass")
        return -self.pair_parameter("G") * mass[..., :, None] * mass[..., None, :]

    def sample_features(self, rng, n):
        return rng.uniform(0.5, 1.5, size=(n, self.particles, 1))

    def _states(self, rng, n, speed):
        shape = (n, self.particles, self.space_dim)
        positions = rng.normal(size=shape)
        velocity = rng.normal(scale=speed, size=shape)
        mass = self.feature("mass")[..., None] if self.features is not None else 1.0
        momenta = mass * velocity
        momenta -= momenta.mean(axis=1, keepdims=True)  # total momentum 0
        return np.concatenate([positions.reshape(n, -1), momenta.reshape(n, -1)], axis=-1)

    def sample_initial(self, rng, n):
        return self._states(rng, n, self.params["speed"])

    def sample_ood(self, rng, n):
        return self._states(rng, n, 2 * self.params["speed"])

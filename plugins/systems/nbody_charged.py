"""Charged particles (the N-body data of EGNN, Satorras et al. 2021, after NRI's generator):
H = Σ ‖p_i‖²/2 + Σ_{i<j} q_i q_j / √(‖x_i − x_j‖² + ε²), unit masses (p = v).

Charges ±1 with probability ½ (the per-particle feature), positions N(0, 1), velocities of norm
0.5 in a random direction; test_ood: norm 1.0. The default is the softened Hamiltonian system
(ε = 0.1) with a symplectic integrator, so energy and momenta hold to the data check's
tolerance. The paper's data: softening 0, force_clip 100, integrator symplectic_euler (velocity,
then position), dt 0.1 with 100 substeps (5000 steps of 0.001 saved every 100); see
configs/nbody-egnn.yaml.
"""

import numpy as np

from phasebench.particles import PairPotential


class NBodyCharged(PairPotential):
    name = "nbody_charged"
    # Separable: Störmer–Verlet at h = 0.001 keeps the softened energy to about 1e-6.
    default_integrator = "stormer_verlet"
    default_dt = 0.1
    default_substeps = 100
    default_n_steps = 49
    default_n_trajectories = 128
    parameters = {
        "particles": 5.0,
        "space_dim": 3.0,
        "softening": 0.1,
        "force_clip": 0.0,
        "speed": 0.5,
    }
    feature_names = ("charge",)

    def coupling(self):
        charge = self.feature("charge")
        return charge[..., :, None] * charge[..., None, :]

    def sample_features(self, rng, n):
        return rng.choice([-1.0, 1.0], size=(n, self.particles, 1))

    def _states(self, rng, n, speed):
        shape = (n, self.particles, self.space_dim)
        positions = rng.normal(size=shape)
        direction = rng.normal(size=shape)
        velocity = speed * direction / np.linalg.norm(direction, axis=-1, keepdims=True)
        return np.concatenate([positions.reshape(n, -1), velocity.reshape(n, -1)], axis=-1)

    def sample_initial(self, rng, n):
        return self._states(rng, n, self.params["speed"])

    def sample_ood(self, rng, n):
        return self._states(rng, n, 2 * self.params["speed"])

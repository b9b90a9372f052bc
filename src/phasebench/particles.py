"""Particles interacting in pairs: the shared physics of the N-body system plugins.

H = Σ_i ‖p_i‖²/2m_i + Σ_{i<j} k_ij / √(‖x_i − x_j‖² + ε²), with the pair couplings k_ij of
a subclass (q_i q_j for charges, −G m_i m_j for gravity) and a softening length ε (0: the bare
1/r potential). `force_clip` > 0 clips every force component to ±force_clip, as the NRI / EGNN
data generator does; the clipped field is no longer Hamiltonian, so energy is conserved only
approximately.
"""

import numpy as np

from phasebench.errors import PluginError
from phasebench.system import System

AXES = "xyz"


def particle_names(particles: int, space_dim: int) -> tuple[str, ...]:
    """x1, y1, z1, x2, … then px1, py1, …: the canonical particle layout's state names."""
    if not 1 <= space_dim <= len(AXES):
        raise PluginError(f"space_dim must be 1, 2 or 3, not {space_dim}")
    positions = tuple(f"{a}{i}" for i in range(1, particles + 1) for a in AXES[:space_dim])
    return positions + tuple(f"p{name}" for name in positions)


def _like(xp, array, like):
    """A numpy array as the namespace's array type (a tensor of `like`'s dtype under torch)."""
    return array if xp is np else xp.as_tensor(array, dtype=like.dtype)


class ParticleSystem(System):
    """Base of particle systems: N particles in `space_dim` dimensions, both parameters, in the
    canonical particle layout (all positions, then all momenta) with H = T(p) + V(x)."""

    abstract = True
    particle_system = True
    canonical = True
    separable = True

    @property
    def particles(self) -> int:
        return int(self.params["particles"])

    @property
    def space_dim(self) -> int:
        return int(self.params["space_dim"])

    @property
    def state_names(self):
        return particle_names(self.particles, self.space_dim)


class PairPotential(ParticleSystem):
    """Base of pair-potential particle systems; subclasses give `coupling()` and the rest of a
    system plugin (name, parameters with `particles`, `space_dim`, `softening`, `force_clip`,
    feature_names, sampling)."""

    abstract = True
    structural = ("particles", "space_dim", "force_clip")  # clipping: not Hamiltonian

    def bound_features(self):
        if self.features is None:
            raise PluginError(
                f"system '{self.name}' needs its particle features: call with_features first"
            )
        return self.features

    def masses(self):
        """Per particle `(n, particles)`, or 1.0 where the system has no mass feature."""
        return self.feature("mass") if "mass" in self.feature_names else 1.0

    def coupling(self):
        """k_ij `(n, particles, particles)` (with a time axis `(n, 1, …)`), 0 on the diagonal
        is not required: self-pairs are masked out."""
        raise NotImplementedError

    def pair_parameter(self, name: str):
        """Parameter `name` shaped to scale `(..., N, N)` pair arrays (swept values per
        trajectory gain two axes)."""
        return np.asarray(self.params[name], np.float64)[..., None, None]

    def _pairs(self, q, xp=np):
        """Differences x_i − x_j `(..., N, N, d)` and softened distances `(..., N, N)`."""
        diff = q[..., :, None, :] - q[..., None, :, :]
        eps2 = _like(xp, self.pair_parameter("softening") ** 2, diff)
        return diff, xp.sqrt((diff * diff).sum(-1) + eps2)

    def _kinetic(self, p, xp):
        mass = self.masses()
        if np.ndim(mass):
            mass = _like(xp, mass, p)[..., None]
        return (p * p / (2 * mass)).sum((-2, -1))

    def _pair_energies(self, q, xp=np):
        """k_ij / r_ij for i < j (0 elsewhere), `(..., N, N)`."""
        _, r = self._pairs(q, xp)
        n = self.particles
        upper = np.triu(np.ones((n, n)), 1)  # each pair once, never i = j (r may be 0 there)
        k = _like(xp, self.coupling() * upper, r)
        return k / xp.where(_like(xp, upper, r) > 0, r, xp.ones_like(r))

    def hamiltonian(self, x):
        xp = self.xp(x)
        self.bound_features()
        q, p = self.split(x)
        return self._kinetic(p, xp) + self._pair_energies(q, xp).sum((-2, -1))

    def force(self, qflat):
        """−∂V/∂x_i = Σ_j k_ij (x_i − x_j) / (‖x_i − x_j‖² + ε²)^{3/2}, flattened like q."""
        self.bound_features()
        q = qflat.reshape(*qflat.shape[:-1], self.particles, self.space_dim)
        diff, r = self._pairs(q)
        n = self.particles
        weight = np.where(
            np.eye(n, dtype=bool), 0.0, self.coupling() / np.where(r > 0, r, 1.0) ** 3
        )
        force = (weight[..., None] * diff).sum(-2)
        clip = self.pair_parameter("force_clip")  # (..., 1, 1) against (..., N, d)
        if np.any(clip):
            force = np.where(clip > 0, np.clip(force, -clip, clip), force)
        return force.reshape(qflat.shape)

    def velocity(self, pflat):
        mass = self.masses()
        if not np.ndim(mass):
            return pflat / mass
        p = pflat.reshape(*pflat.shape[:-1], self.particles, self.space_dim)
        return (p / mass[..., None]).reshape(pflat.shape)

    def vector_field(self, x):
        half = self.particles * self.space_dim
        return np.concatenate([self.velocity(x[..., half:]), self.force(x[..., :half])], -1)

    def invariant_scales(self, x):
        """Energy against kinetic + Σ|pair energies| (the energy of ±charges passes through
        0), momentum against Σ‖p_i‖, angular momentum against Σ‖x_i‖‖p_i‖."""
        q, p = self.split(x)
        energy = self._kinetic(p, np) + np.abs(self._pair_energies(q)).sum((-2, -1))
        momentum = np.linalg.norm(p, axis=-1).sum(-1)
        angular = (np.linalg.norm(q, axis=-1) * np.linalg.norm(p, axis=-1)).sum(-1)
        return {
            name: energy
            if name == "energy"
            else momentum
            if name.startswith("momentum")
            else angular
            for name in self.invariants(x)
        }

    def invariants(self, x):
        q, p = self.split(x)
        total = p.sum(-2)  # total momentum, per axis
        out = {"energy": self.hamiltonian(x)}
        out.update({f"momentum_{a}": total[..., i] for i, a in enumerate(AXES[: self.space_dim])})
        if self.space_dim == 2:
            out["angular_momentum"] = (q[..., 0] * p[..., 1] - q[..., 1] * p[..., 0]).sum(-1)
        elif self.space_dim == 3:
            angular = np.cross(q, p).sum(-2)
            out.update({f"angular_momentum_{a}": angular[..., i] for i, a in enumerate(AXES)})
        return out

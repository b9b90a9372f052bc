"""Lennard-Jones particles in a periodic box (2D by default, `space_dim: 3` for 3D), the
truncated and shifted potential in reduced units (σ = ε = m = 1):
H = Σ ‖p_i‖²/2 + Σ_{i<j, r_ij<r_c} [4 (r_ij⁻¹² − r_ij⁻⁶) − 4 (r_c⁻¹² − r_c⁻⁶)],
r_ij the distance to the nearest periodic image. The box has side L = (N / density)^(1/d).

Positions are stored unwrapped (continuous along a trajectory, not folded into the box), so
that one step's displacement is small and smooth; distances use the nearest image. Forces come
from a Verlet neighbour list (scipy's cKDTree with `boxsize`, searched again when a particle
has moved half the skin), vectorised over all trajectories at once.

Initial states: the particles on random sites of a cubic lattice filling the box, jittered,
with Maxwell velocities rescaled to exactly `temperature` (k_B T per degree of freedom) and
the total momentum removed; burn them in (the config's `burn_in`) to melt the lattice.
test_ood: twice the temperature. Masses are 1, stored as the feature `mass`.
"""

import numpy as np

from phasebench.errors import PluginError
from phasebench.neighbours import VerletList, minimum_image
from phasebench.particles import AXES, ParticleSystem

SKIN = 0.4  # Verlet list margin: larger searches less often, over more pairs


class LennardJones(ParticleSystem):
    name = "lennard_jones"
    # Separable: velocity Verlet (Störmer–Verlet) at h = 0.005, the usual LJ step.
    default_integrator = "stormer_verlet"
    default_dt = 0.02
    default_substeps = 4
    default_n_steps = 100
    default_n_trajectories = 64
    parameters = {
        "particles": 64.0,
        "space_dim": 2.0,
        "density": 0.7,
        "temperature": 1.0,
        "cutoff": 2.5,
    }
    # The box (density), the cutoff and the layout shape the data: not swept per trajectory.
    structural = ("particles", "space_dim", "density", "cutoff")
    positive = ("particles", "space_dim", "density", "temperature", "cutoff")
    feature_names = ("mass",)

    @property
    def box(self) -> tuple[float, ...]:
        """The side of the periodic box along each axis."""
        side = (self.particles / float(self.params["density"])) ** (1 / self.space_dim)
        cutoff = float(self.params["cutoff"])
        if cutoff + SKIN >= side / 2:
            raise PluginError(
                f"system '{self.name}': cutoff {cutoff:g} (+ skin {SKIN}) must stay below half "
                f"the box side {side:.3g}; raise particles or lower density or cutoff"
            )
        return (side,) * self.space_dim

    def _neighbours(self, key: str) -> VerletList:
        """A Verlet list kept on this system object (one for the field, one for energies)."""
        lists = self.__dict__.setdefault("_lists", {})
        if key not in lists:
            lists[key] = VerletList(self.box[0], float(self.params["cutoff"]), SKIN)
        return lists[key]

    def sample_features(self, rng, n):
        return np.ones((n, self.particles, 1))

    def _states(self, rng, n, temperature):
        side, d, count = self.box[0], self.space_dim, self.particles
        per_axis = int(np.ceil(count ** (1 / d) - 1e-9))
        spacing = side / per_axis
        grid = np.stack(np.meshgrid(*[np.arange(per_axis)] * d, indexing="ij"), -1).reshape(-1, d)
        sites = np.stack([rng.choice(len(grid), count, replace=False) for _ in range(n)])
        positions = (grid[sites] + 0.5) * spacing + rng.normal(
            scale=0.02 * spacing, size=(n, count, d)
        )
        momenta = rng.normal(size=(n, count, d))
        momenta -= momenta.mean(axis=1, keepdims=True)  # total momentum 0
        current = (momenta**2).sum((1, 2), keepdims=True) / (d * count)
        momenta *= np.sqrt(np.asarray(temperature).reshape(-1, 1, 1) / current)
        return np.concatenate([positions.reshape(n, -1), momenta.reshape(n, -1)], -1)

    def sample_initial(self, rng, n):
        return self._states(rng, n, self.params["temperature"])

    def sample_ood(self, rng, n):
        return self._states(rng, n, 2 * np.asarray(self.params["temperature"]))

    def _pair_terms(self, columns, block):
        """Displacements per axis (through each pair's periodic image), inverse squared
        distances and whether within the cutoff, of the pairs of one `block`; `columns` holds
        the flattened particles' coordinates, one contiguous array per axis (numpy gathers
        1-D arrays several times faster than rows of a 2-D one). The cutoff is a mask to
        multiply by: assigning through it (r2[r2 > rc²] = ...) costs several times more.
        Callers silence numpy's floating-point warnings (coincident or lost particles)."""
        diffs, r2 = [], None
        for column, image in zip(columns, block.image, strict=True):
            coordinate = column[block.start : block.stop]
            diff = coordinate[block.i]
            diff -= coordinate[block.j]
            diff -= image
            r2 = diff * diff if r2 is None else np.add(r2, diff * diff, out=r2)
            diffs.append(diff)
        inside = r2 < float(self.params["cutoff"]) ** 2
        return diffs, np.divide(1.0, r2, out=r2), inside

    def _blocks(self, key, q):
        """The Verlet list's pair blocks for configurations `q (S, N, d)`, and the coordinate
        columns of their flattened particles."""
        blocks = self._neighbours(key).pairs(q)
        flat = q.reshape(-1, self.space_dim)
        return blocks, [np.ascontiguousarray(flat[:, axis]) for axis in range(self.space_dim)]

    def _shift(self) -> float:
        inverse6 = float(self.params["cutoff"]) ** -6
        return 4 * (inverse6 * inverse6 - inverse6)

    def force(self, qflat):
        """−∂V/∂x_i = Σ_j 24 (2 r⁻¹⁴ − r⁻⁸) (x_i − x_j) over neighbours within the cutoff, each
        pair once (Newton's third law), block by block (`neighbours.BLOCK_PAIRS`)."""
        n, count, d = qflat.shape[0], self.particles, self.space_dim
        blocks, columns = self._blocks("field", qflat.reshape(n, count, d))
        force = np.empty((n * count, d))
        # A step too long for the field (a reference row at dt) may blow up: let it, quietly;
        # the evaluation records the rollout as diverged.
        with np.errstate(all="ignore"):
            for block in blocks:
                diffs, inverse2, inside = self._pair_terms(columns, block)
                inverse6 = inverse2 * inverse2
                inverse6 *= inverse2
                scale = np.multiply(inverse6, 48.0)  # 24 (2 r⁻¹² − r⁻⁶) / r², in place
                scale -= 24.0
                scale *= inverse6
                scale *= inverse2
                scale *= inside
                pair = np.empty((len(scale), d))
                for axis, diff in enumerate(diffs):
                    np.multiply(diff, scale, out=pair[:, axis])
                force[block.start : block.stop] = block.scatter @ pair
        return force.reshape(qflat.shape)

    def velocity(self, pflat):
        return pflat  # unit masses

    def vector_field(self, x):
        half = self.particles * self.space_dim
        return np.concatenate([self.velocity(x[..., half:]), self.force(x[..., :half])], -1)

    def _potential_numpy(self, q, absolute=False):
        """Σ of the pair energies (or of their sizes) of configurations `q (S, N, d)`."""
        blocks, columns = self._blocks("energy", q)
        total = np.zeros(len(q))
        for block in blocks:
            with np.errstate(all="ignore"):  # coincident or lost particles
                _, inverse2, inside = self._pair_terms(columns, block)
                inverse6 = inverse2 * inverse2 * inverse2
                energy = np.where(inside, 4 * inverse6 * (inverse6 - 1) - self._shift(), 0.0)
            energy = np.abs(energy) if absolute else energy
            first = block.start // q.shape[1]
            configs = (block.stop - block.start) // q.shape[1]
            total[first : first + configs] = np.bincount(block.i // q.shape[1], energy, configs)
        return total

    def _potential_torch(self, q):
        """The same sum over all pairs (no neighbour list), differentiable with autograd."""
        import torch

        diff = minimum_image(q[..., :, None, :] - q[..., None, :, :], self.box[0])
        r2 = (diff * diff).sum(-1)
        count = self.particles
        upper = torch.triu(torch.ones(count, count, dtype=torch.bool), 1)
        inside = upper & (r2 < float(self.params["cutoff"]) ** 2)
        inverse6 = 1 / torch.where(inside, r2, torch.ones_like(r2)) ** 3
        energy = 4 * (inverse6 * inverse6 - inverse6) - self._shift()
        return torch.where(inside, energy, torch.zeros_like(energy)).sum((-2, -1))

    def potential(self, q, absolute=False):
        """V of positions `(..., N, d)`; numpy states `(n, T, N, d)` go time step by time step,
        so that the neighbour list follows each trajectory."""
        if self.xp(q) is not np:
            return self._potential_torch(q)
        if q.ndim == 4:
            return np.stack(
                [self._potential_numpy(q[:, t], absolute) for t in range(q.shape[1])], 1
            )
        flat = q.reshape(-1, *q.shape[-2:])
        return self._potential_numpy(flat, absolute).reshape(q.shape[:-2])

    def hamiltonian(self, x):
        q, p = self.split(x)
        return (p * p).sum((-2, -1)) / 2 + self.potential(q)

    def invariants(self, x):
        q, p = self.split(x)
        total = p.sum(-2)  # total momentum, per axis (no angular momentum in a periodic box)
        out = {"energy": self.hamiltonian(x)}
        out.update({f"momentum_{a}": total[..., k] for k, a in enumerate(AXES[: self.space_dim])})
        return out

    def invariant_scales(self, x):
        """Energy against kinetic + Σ|pair energies| (a liquid's energy may pass through 0),
        momentum against Σ‖p_i‖."""
        q, p = self.split(x)
        energy = (p * p).sum((-2, -1)) / 2 + self.potential(q, absolute=True)
        momentum = np.linalg.norm(p, axis=-1).sum(-1)
        return {name: energy if name == "energy" else momentum for name in self.invariants(x)}

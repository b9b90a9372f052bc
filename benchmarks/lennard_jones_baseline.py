"""The Lennard-Jones force and integration as they were before issue 16's speed-up, kept so
that `simulate_speed.py --lennard-jones --baseline` can time old and new in one run.

The old path: every pair rounded to its nearest image at every force evaluation, the pair
list sorted by its first index after each search, and Störmer–Verlet evaluating the force at
both kicks of every step (two evaluations per step).
"""

import numpy as np
from scipy.spatial import cKDTree

from phasebench.neighbours import wrap


def _pairs_within(q, box, radius):
    count = q.shape[1]
    found = [
        cKDTree(wrap(config, box), boxsize=box).query_pairs(radius, output_type="ndarray")
        + s * count
        for s, config in enumerate(q)
        if np.isfinite(config).all()
    ]
    pairs = np.concatenate(found) if found else np.empty((0, 2), np.intp)
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    return pairs[:, 0], pairs[:, 1]


class BaselineForce:
    """The old `LennardJones.force` with its own Verlet list (reference, skin / 2 rule)."""

    def __init__(self, system, skin: float = 0.4):
        self.system, self.skin = system, skin
        self.box, self.cutoff = system.box[0], float(system.params["cutoff"])
        self.reference, self.found, self.searches = None, None, 0

    def _pairs(self, q):
        stale = self.reference is None or self.reference.shape != q.shape
        if not stale:
            stale = ((q - self.reference) ** 2).sum(-1).max() > (self.skin / 2) ** 2
        if stale:
            self.reference = q.copy()
            self.found = _pairs_within(q, self.box, self.cutoff + self.skin)
            self.searches += 1
        return self.found

    def __call__(self, qflat):
        n, count, d = qflat.shape[0], self.system.particles, self.system.space_dim
        q = qflat.reshape(n, count, d)
        i, j = self._pairs(q)
        flat = q.reshape(-1, d)
        diffs, r2, image = [], np.zeros(len(i)), np.empty(len(i))
        for axis in range(d):
            coordinate = np.ascontiguousarray(flat[:, axis])
            diff = coordinate[i]
            diff -= coordinate[j]
            np.rint(np.multiply(diff, 1 / self.box, out=image), out=image)
            diff -= np.multiply(image, self.box, out=image)
            r2 += diff * diff
            diffs.append(diff)
        inverse2 = np.divide(1.0, r2, out=r2)
        inverse2[inverse2 <= self.cutoff**-2] = 0.0
        total = n * count
        force = np.empty((total, d))
        inverse6 = inverse2 * inverse2 * inverse2
        scale = 24 * inverse6 * (2 * inverse6 - 1) * inverse2
        for axis, diff in enumerate(diffs):
            pair = scale * diff
            force[:, axis] = np.bincount(i, pair, total) - np.bincount(j, pair, total)
        return force.reshape(qflat.shape)


def integrate(system, x0, dt: float, n_steps: int, substeps: int):
    """Kick–drift–kick with two force evaluations per step, as the old integrator did; returns
    the final state and the number of neighbour searches."""
    force = BaselineForce(system)
    half = x0.shape[1] // 2
    q, p = x0[:, :half].copy(), x0[:, half:].copy()
    h = dt / substeps
    for _ in range(n_steps * substeps):
        p += 0.5 * h * force(q)
        q += h * p
        p += 0.5 * h * force(q)
    return np.concatenate([q, p], 1), force.searches

"""Neighbours of particles in a periodic box: pairs closer than a radius, found with scipy's
cKDTree (periodic through its `boxsize`) and kept as a Verlet list (cutoff + skin) until some
particle has moved half the skin, so that most force evaluations reuse the last search.

Positions may be unwrapped (outside the box): they are wrapped for the search only, and
distances are taken to the nearest periodic image (`minimum_image`).
"""

import numpy as np
from scipy.spatial import cKDTree


def minimum_image(diff, box: float):
    """Displacements to the nearest periodic image (numpy or torch)."""
    return diff - box * (diff / box).round()


def wrap(x: np.ndarray, box: float) -> np.ndarray:
    """Positions folded into [0, box). cKDTree refuses box itself, which rounding can give, and
    the fold of a huge position (a rollout blowing up) may land anywhere: clipped."""
    return np.clip(np.mod(x, box), 0.0, np.nextafter(box, 0.0))


def pairs_within(q: np.ndarray, box: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair i < j of each configuration of `q (S, N, d)` closer than `radius` (nearest
    image), as indices into the flattened `(S·N)` particles. A configuration with a non-finite
    position (a rollout that blew up) has none: its states are lost already, and the search
    would refuse them."""
    count = q.shape[1]
    found = [
        cKDTree(wrap(config, box), boxsize=box).query_pairs(radius, output_type="ndarray")
        + s * count
        for s, config in enumerate(q)
        if np.isfinite(config).all()
    ]
    pairs = np.concatenate(found) if found else np.empty((0, 2), np.intp)
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]  # gathers in memory order: faster
    return pairs[:, 0], pairs[:, 1]


class VerletList:
    """The pairs within cutoff + skin of a reference configuration. They contain every pair
    within the cutoff as long as no particle has moved more than skin / 2 since; `pairs(q)`
    searches again when that no longer holds (or the configurations' shape changed)."""

    def __init__(self, box: float, cutoff: float, skin: float):
        self.box, self.cutoff, self.skin = box, cutoff, skin
        self.reference = None
        self.found = None
        self.searches = 0  # how often it searched (the tests and the benchmark read it)

    def pairs(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        stale = self.reference is None or self.reference.shape != q.shape
        if not stale:
            moved = ((q - self.reference) ** 2).sum(-1).max()
            stale = moved > (self.skin / 2) ** 2
        if stale:
            self.reference = q.copy()
            self.found = pairs_within(q, self.box, self.cutoff + self.skin)
            self.searches += 1
        return self.found

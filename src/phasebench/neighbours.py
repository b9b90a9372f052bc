"""Neighbours of particles in a periodic box: pairs closer than a radius, found with scipy's
cKDTree (periodic through its `boxsize`) and kept as a Verlet list (cutoff + skin), block by
block of trajectories, until some particle of the block has moved half the skin, so that most
force evaluations reuse the last search.

Positions may be unwrapped (outside the box): they are wrapped for the search only. Each pair
keeps the periodic image it was found through (`PairBlock.image`), so that a force evaluation
takes the displacement x_i − x_j − image instead of rounding every pair to its nearest image
again. That image stays right for every pair that matters: until the next search a kept
displacement stays below cutoff + 2 skin, any other image of it lies farther than
L − cutoff − 2 skin, beyond the cutoff when L > 2 (cutoff + skin), which the list requires.
"""

from typing import NamedTuple

import numpy as np
from scipy.sparse import csc_array
from scipy.spatial import cKDTree


def minimum_image(diff, box: float):
    """Displacements to the nearest periodic image (numpy or torch)."""
    return diff - box * (diff / box).round()


def wrap(x: np.ndarray, box: float) -> np.ndarray:
    """Positions folded into [0, box). cKDTree refuses box itself, which rounding can give, and
    the fold of a huge position (a rollout blowing up) may land anywhere: clipped."""
    return np.clip(np.mod(x, box), 0.0, np.nextafter(box, 0.0))


# Pairs per block: the dozen pair arrays of one block (8 bytes a pair each) stay in a core's
# L2 cache, so that a force evaluation streams each block from memory once instead of each of
# its numpy passes over all pairs (about 1.5x faster than one block of all pairs at N = 1024).
BLOCK_PAIRS = 32768


class PairBlock(NamedTuple):
    """The pairs (i, j), i < j, of the whole configurations whose flattened particles are rows
    `start:stop` (i and j count from `start`); per axis the shift `image[a]` (a multiple of
    the box side) that makes x_i − x_j − image the nearest image at the time of the search;
    and `scatter`, the sparse `(stop − start, P)` matrix with +1 at (i, p) and −1 at (j, p):
    `scatter @ w` adds a pair quantity `w (P, d)` to the first particle and subtracts it from
    the second (Newton's third law), both axes in one pass, faster than np.bincount per axis
    and end."""

    start: int
    stop: int
    i: np.ndarray
    j: np.ndarray
    image: tuple[np.ndarray, ...]
    scatter: csc_array


def _block(q: np.ndarray, first: int, found: list[np.ndarray], box: float) -> PairBlock:
    """The block of configurations `q (S, N, d)`, the first of them number `first`, from the
    pairs `found` in each (local indices)."""
    count = q.shape[1]
    pairs = np.concatenate([f + s * count for s, f in enumerate(found)])
    i, j = np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])
    flat = q.reshape(-1, q.shape[-1])
    image = []
    for axis in range(q.shape[-1]):
        coordinate = np.ascontiguousarray(flat[:, axis])
        image.append(box * np.rint((coordinate[i] - coordinate[j]) / box))
    # Column p holds +1 at row i_p and −1 at row j_p: built as CSC directly, no sorting.
    rows = np.empty(2 * len(i), np.int32)
    rows[0::2], rows[1::2] = i, j
    signs = np.empty(2 * len(i))
    signs[0::2], signs[1::2] = 1.0, -1.0
    starts = np.arange(0, 2 * len(i) + 1, 2, dtype=np.int32)
    scatter = csc_array((signs, rows, starts), shape=(len(flat), len(i)))
    return PairBlock(first * count, (first + len(q)) * count, i, j, tuple(image), scatter)


def _search(q: np.ndarray, box: float, radius: float) -> list[np.ndarray]:
    """The pairs (P, 2) of each configuration of `q (S, N, d)` closer than `radius`. A
    configuration with a non-finite position (a rollout that blew up) has none: its states are
    lost already, and the search would refuse them."""
    return [
        cKDTree(wrap(config, box), boxsize=box).query_pairs(radius, output_type="ndarray")
        if np.isfinite(config).all()
        else np.empty((0, 2), np.intp)
        for config in q
    ]


def pairs_within(q: np.ndarray, box: float, radius: float) -> list[PairBlock]:
    """Every pair i < j of each configuration of `q (S, N, d)` closer than `radius` (nearest
    image), in blocks of whole configurations of about BLOCK_PAIRS pairs. The pairs stay in
    the search's order: each configuration's pairs touch only its own N particles, which stay
    in cache, so sorting them buys nothing."""
    found = _search(q, box, radius)
    per_config = max(1, sum(len(f) for f in found) // max(1, len(found)))
    size = max(1, BLOCK_PAIRS // per_config)
    return [_block(q[s : s + size], s, found[s : s + size], box) for s in range(0, len(q), size)]


class VerletList:
    """The pairs within cutoff + skin of reference configurations, block by block. A block
    contains every pair within the cutoff as long as none of its particles has moved more than
    skin / 2 since its search; `pairs(q)` searches again the blocks where that no longer holds
    (all of them when the configurations' shape changed). Block by block, a trajectory that
    blew up (NaN) leaves the others' lists alive, and a block waits for its own fastest
    particle rather than the fastest of all."""

    def __init__(self, box: float, cutoff: float, skin: float):
        if cutoff + skin >= box / 2:
            raise ValueError(
                f"neighbour list: cutoff {cutoff:g} + skin {skin:g} must stay below half the "
                f"box side {box:.3g}"
            )
        self.box, self.cutoff, self.skin = box, cutoff, skin
        self.limit = skin / 2  # the largest move allowed
        self.reference = None
        self.blocks = None
        self.searched = 0  # configurations searched, in all (the tests and benchmark read it)

    def pairs(self, q: np.ndarray) -> list[PairBlock]:
        radius = self.cutoff + self.skin
        if self.reference is None or self.reference.shape != q.shape:
            self.reference = q.copy()
            self.blocks = pairs_within(q, self.box, radius)
            self.searched += len(q)
            return self.blocks
        moved = q - self.reference
        moved = np.einsum("...a,...a->...", moved, moved).max(-1)  # per configuration
        count = q.shape[1]
        for k, block in enumerate(self.blocks):
            first, last = block.start // count, block.stop // count
            # fmax skips a configuration lost to NaN: its states are lost, new pairs or not.
            if np.fmax.reduce(moved[first:last]) > self.limit**2:
                self.reference[first:last] = q[first:last]
                found = _search(q[first:last], self.box, radius)
                self.blocks[k] = _block(q[first:last], first, found, self.box)
                self.searched += last - first
        return self.blocks

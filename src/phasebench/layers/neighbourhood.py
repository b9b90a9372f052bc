"""Neighbourhoods of particles for local models: each particle's k nearest others (to the
nearest periodic image in a box), and the pair geometry of a particle with its neighbours.

The search runs without gradients (which neighbours is a discrete choice); the geometry is
computed again in torch from the gathered positions, so gradients reach every position used.
Small sets search densely in torch; larger ones with scipy's cKDTree per configuration
(O(N log N) instead of the O(N²) distance matrix).
"""

import numpy as np
import torch
from scipy.spatial import cKDTree

from phasebench.neighbours import minimum_image, wrap

DENSE_SEARCH = 256  # particles up to which the all-pairs search in torch is faster


def displacements(xi: torch.Tensor, xj: torch.Tensor, box: float | None) -> torch.Tensor:
    """x_i − x_j, to the nearest periodic image when `box` is a side length."""
    diff = xi - xj
    return diff if box is None else minimum_image(diff, box)


def neighbour_indices(x: torch.Tensor, others: int, box: float | None) -> torch.Tensor:
    """`(B, N, others + 1)` indices: each particle itself, then its `others` nearest particles
    (nearest images in a box); all particles where others ≥ N − 1."""
    batch, count, _ = x.shape
    if others >= count - 1:
        return torch.arange(count, device=x.device).expand(batch, count, count)
    with torch.no_grad():
        if count <= DENSE_SEARCH:
            diff = displacements(x[:, :, None], x[:, None], box)
            distance = (diff * diff).sum(-1)
            distance.diagonal(dim1=1, dim2=2).fill_(-1.0)  # itself first, ahead of any tie
            return distance.topk(others + 1, dim=-1, largest=False).indices
        found = []
        for config in x.detach().cpu().double().numpy():
            tree = cKDTree(wrap(config, box), boxsize=box) if box else cKDTree(config)
            _, index = tree.query(wrap(config, box) if box else config, others + 1)
            # The query lists the particle itself first (distance 0) unless two coincide.
            found.append(index)
        return torch.as_tensor(np.stack(found), device=x.device)


def gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`values (B, N, ...)` of each particle's neighbours: `(B, N, K, ...)`."""
    batch = torch.arange(values.shape[0], device=values.device)[:, None, None]
    return values[batch, index]

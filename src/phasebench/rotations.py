"""Uniformly random rotations, one recipe for the trainer's augmentation and the evaluation's
rotated test data."""

import torch


def haar_rotations(gauss: torch.Tensor) -> torch.Tensor:
    """Rotations `(B, d, d)` distributed uniformly (Haar) from Gaussian matrices `(B, d, d)`:
    Q of their QR with the signs of R's diagonal moved into Q, and the first column flipped
    where det = −1."""
    q, r = torch.linalg.qr(gauss)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None]
    flip = torch.ones(q.shape[:-1], dtype=q.dtype, device=q.device)
    flip[:, 0] = torch.sign(torch.linalg.det(q))
    return q * flip[:, None]

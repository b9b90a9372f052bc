"""Random projection matrices ω (rows w_i) for random-feature kernels, and a redraw policy."""

import torch

PROJECTIONS = ("iid", "orthogonal", "rademacher", "fixed_norm")


def projection(m, d, kind="iid", generator=None, dtype=torch.float64):
    """An (m, d) matrix of rows w_i.

    iid: w ~ N(0, I), unbiased. orthogonal: Haar-orthogonal d×d blocks with χ_d row norms, so
    each row is still marginally N(0, I) (unbiased) but rows within a block are exactly
    orthogonal (lower variance). rademacher (±1 entries) and fixed_norm (norm √d, uniform
    direction) have the right second moment but not the Gaussian law, so they are biased.
    """
    if kind not in PROJECTIONS:
        raise ValueError(f"unknown projection {kind!r}: expected one of {', '.join(PROJECTIONS)}")
    gauss = torch.randn(m, d, generator=generator, dtype=dtype)
    if kind == "iid":
        return gauss
    if kind == "rademacher":
        return torch.randint(0, 2, (m, d), generator=generator, dtype=dtype) * 2 - 1
    if kind == "fixed_norm":
        return gauss / gauss.norm(dim=1, keepdim=True) * d**0.5
    blocks = []
    for _ in range(-(-m // d)):
        q, r = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=dtype))
        # Sign fix makes Q Haar-distributed (QR alone is biased towards positive diagonals).
        blocks.append((q * torch.sign(torch.diagonal(r))).T)
    rows = torch.cat(blocks)[:m]
    # Norms of fresh Gaussian vectors are χ_d distributed, independent of the directions.
    norms = torch.randn(m, d, generator=generator, dtype=dtype).norm(dim=1, keepdim=True)
    return rows * norms


class RandomProjection(torch.nn.Module):
    """Holds a projection as a buffer and redraws it every `redraw_every` training calls
    (0: never), so a trained model does not overfit one draw of features."""

    def __init__(self, m, d, kind="orthogonal", redraw_every=0):
        super().__init__()
        self.m, self.d, self.kind, self.redraw_every = m, d, kind, redraw_every
        self.register_buffer("weight", projection(m, d, kind, dtype=torch.float32))
        self.calls = 0

    def redraw(self):
        w = projection(self.m, self.d, self.kind, dtype=self.weight.dtype)
        self.weight.copy_(w.to(self.weight.device))

    def forward(self):
        if self.training and self.redraw_every:
            if self.calls and self.calls % self.redraw_every == 0:
                self.redraw()
            self.calls += 1
        return self.weight

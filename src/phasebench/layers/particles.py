"""Building blocks of particle models: the canonical particle layout as tokens, pair geometry,
and the layers of EGNN, a plain message-passing GNN and a particle transformer.

Every block treats the particle axis as a set: per-particle maps and sums over the others, no
index of a particle enters, so the models built from them are permutation-equivariant.
"""

import torch
import torch.nn.functional as F
from torch import nn

from phasebench.attention import KernelAttention
from phasebench.layers.neighbourhood import displacements
from phasebench.rotations import haar_rotations


def mlp(
    sizes,
    last_gain: float | None = None,
    last_activation: bool = False,
    last_bias: bool = True,
) -> nn.Sequential:
    """Linear layers with SiLU between them (and after the last with `last_activation`);
    `last_gain` shrinks the last layer's initial weights and `last_bias: false` drops its bias
    (EGNN's coordinate head, so that it starts near zero and the first steps are near identity)."""
    layers = []
    pairs = list(zip(sizes, sizes[1:], strict=False))
    for k, (a, b) in enumerate(pairs):
        last = k == len(pairs) - 1
        linear = nn.Linear(a, b, bias=last_bias or not last)
        layers += [linear, nn.SiLU()] if last_activation or not last else [linear]
    if last_gain is not None:
        nn.init.xavier_uniform_(linear.weight, gain=last_gain)
    return nn.Sequential(*layers)


def split_particles(window: torch.Tensor, particles: int, space_dim: int):
    """A window `(B, 1, D)` of particle states as positions and momenta `(B, N, d)` each."""
    state = window[:, -1]
    half = particles * space_dim
    shape = (state.shape[0], particles, space_dim)
    return state[:, :half].reshape(shape), state[:, half:].reshape(shape)


def join_particles(positions: torch.Tensor, momenta: torch.Tensor) -> torch.Tensor:
    """Positions and momenta `(B, N, d)` back to one state `(B, 1, D)` in the canonical layout."""
    batch = positions.shape[0]
    return torch.cat([positions.reshape(batch, -1), momenta.reshape(batch, -1)], -1)[:, None]


def masses(features: torch.Tensor, feature_names) -> torch.Tensor | float:
    """Each particle's mass `(B, N, 1)` where the system has a mass feature, else 1."""
    if "mass" not in feature_names:
        return 1.0
    return features[..., feature_names.index("mass")][..., None]


def pair_geometry(x: torch.Tensor, box: float | None = None):
    """x_i − x_j `(B, N, N, d)` (to the nearest image in a periodic box of side `box`) and
    ‖x_i − x_j‖² `(B, N, N, 1)`."""
    diff = displacements(x[:, :, None], x[:, None, :], box)
    return diff, (diff * diff).sum(-1, keepdim=True)


def random_rotations(batch: int, space_dim: int, like: torch.Tensor) -> torch.Tensor:
    """`batch` rotations `(B, d, d)` drawn uniformly (Haar, `phasebench.rotations`) from
    torch's global generator, so a seeded run draws the same ones."""
    gauss = torch.randn(batch, space_dim, space_dim, dtype=like.dtype, device=like.device)
    return haar_rotations(gauss)


def pair_features(features: torch.Tensor) -> torch.Tensor:
    """f_i ⊙ f_j `(B, N, N, F)`: for charges q_i q_j, EGNN's edge attribute."""
    return features[:, :, None] * features[:, None, :]


def off_diagonal(n: int, like: torch.Tensor) -> torch.Tensor:
    """`(N, N, 1)` ones off the diagonal: a particle sends no message to itself."""
    return (1 - torch.eye(n, dtype=like.dtype, device=like.device))[..., None]


def drop_diagonal(pairs: torch.Tensor) -> torch.Tensor:
    """Pair values `(B, N, N, ...)` without the self-pairs: `(B, N, N − 1, ...)`, row i holding
    the pairs (i, j ≠ i) in order. In the flattened N² pairs the diagonal sits every N + 1
    entries, so dropping the first entry and the last column of the rest removes it (a view
    and one copy, no index tensor)."""
    batch, n, rest = pairs.shape[0], pairs.shape[1], pairs.shape[3:]
    kept = pairs.flatten(1, 2)[:, 1:].unflatten(1, (n - 1, n + 1))[:, :, :-1]
    return kept.reshape(batch, n, n - 1, *rest)


def pairwise_linear(layer: nn.Linear, h: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """`layer(concat(h_i, h_j, pairs_ij))` for every pair i ≠ j, `(B, N, N − 1, out)`, without
    the concatenation: the product splits into W_i h_i + W_j h_j + W_p pairs_ij + b, whose node
    parts are computed once per particle instead of once per pair (N× fewer products). `pairs`
    `(B, N, N − 1, P)` holds the pair inputs of the off-diagonal pairs (`drop_diagonal`)."""
    width = h.shape[-1]
    w_i, w_j, w_p = layer.weight.split([width, width, pairs.shape[-1]], 1)
    nodes = F.linear(h, w_i, layer.bias)[:, :, None] + F.linear(h, w_j)[:, None]
    return drop_diagonal(nodes) + F.linear(pairs, w_p)


class EGNNLayer(nn.Module):
    """One E(n)-equivariant layer with velocities (Satorras et al. 2021, eqs. 7 and 3–6):
    m_ij = φ_e(h_i, h_j, ‖x_i − x_j‖², a_ij);  v_i ← φ_v(h_i) v⁰_i + C Σ_j (x_i − x_j) φ_x(m_ij);
    x_i ← x_i + v_i;  h_i ← h_i + φ_h(h_i, Σ_j m_ij), with C = 1/(N − 1) and v⁰ the input
    velocity, as in the paper's eq. 7 and its code. `carry_velocity` scales the previous
    layer's v_i instead (phasebench's first reading of eq. 7, kept for comparison).

    As in the paper's code (`models/gcl.py`, `E_GCL`): φ_e ends in a SiLU (`edge_activation`)
    and φ_x's last layer has no bias and xavier gain 0.001 (`coord_bias: false`), so φ_x starts
    at ~1e-3 of its inputs rather than at its bias (up to ±1/8 from PyTorch's default)."""

    def __init__(
        self,
        width: int,
        edge_features: int,
        carry_velocity: bool = False,
        edge_activation: bool = True,
        coord_bias: bool = False,
    ):
        super().__init__()
        self.edge = mlp(
            [2 * width + 1 + edge_features, width, width], last_activation=edge_activation
        )
        self.node = mlp([2 * width, width, width])
        self.coord = mlp([width, width, 1], last_gain=0.001, last_bias=coord_bias)
        self.velocity = mlp([width, width, 1])
        self.carry_velocity = carry_velocity

    def forward(self, h, x, v, edge_attr, v0=None):
        """`v0`: the input velocity (None: `v`, as in the first layer)."""
        n = x.shape[1]
        # Messages of the pairs i ≠ j only (a particle sends none to itself), the edge MLP's
        # first layer factored per particle: the same numbers as φ_e on the concatenation.
        diff = drop_diagonal(pair_geometry(x)[0])
        r2 = (diff * diff).sum(-1, keepdim=True)
        pairs = torch.cat([r2, drop_diagonal(edge_attr)], -1)
        m = self.edge[1:](pairwise_linear(self.edge[0], h, pairs))
        # EGNN's clamp of the coordinate messages keeps early training from blowing up.
        shift = (diff * self.coord(m)).clamp(-100, 100).sum(2) / max(n - 1, 1)
        scaled = v if self.carry_velocity or v0 is None else v0
        v = self.velocity(h) * scaled + shift
        return h + self.node(torch.cat([h, m.sum(2)], -1)), x + v, v


class MessagePassingLayer(nn.Module):
    """A plain (not E(n)-equivariant) message-passing layer: m_ij = φ_e(h_i, h_j, a_ij),
    h_i ← h_i + φ_h(h_i, Σ_j m_ij)."""

    def __init__(self, width: int, edge_features: int):
        super().__init__()
        self.edge = mlp([2 * width + edge_features, width, width])
        self.node = mlp([2 * width, width, width])

    def forward(self, h, edge_attr):
        # As in EGNNLayer: pairs i ≠ j, the first edge layer factored per particle.
        m = self.edge[1:](pairwise_linear(self.edge[0], h, drop_diagonal(edge_attr)))
        return h + self.node(torch.cat([h, m.sum(2)], -1))


class ParticleAttentionLayer(nn.Module):
    """Attention over particles (tokens, no positional encoding), then a feed-forward block.

    Softmax attention adds a per-head bias b_ij = φ_b(pair_ij) to its logits, pair_ij holding
    ‖x_i − x_j‖² and f_i ⊙ f_j (and x_i − x_j in a periodic box). A linear-attention kernel
    (the library's `KernelAttention`: relu, exp, favor, learned) has no logits to add to, so
    the pairs enter as features: each token first receives Σ_j φ_b(pair_ij) (one
    message-passing step).

    `relative_values` adds a learned u_ij = φ_u(pair_ij) to each value, Σ_j a_ij (v_j + u_ij):
    in a periodic box the tokens hold no positions, so the direction to a neighbour must
    enter through the pair. `forward` takes the pairs of all particles `(B, N, N, P)`, or with
    `neighbours (B, N, K)` those of each particle's K neighbours `(B, N, K, P)` (local
    attention, cost O(N·K)); `mask` (same leading shape) drops pairs beyond a cutoff.
    """

    def __init__(
        self,
        width: int,
        heads: int,
        ff_width: int,
        pair_features: int,
        kernel: str,
        relative_values: bool = False,
    ):
        super().__init__()
        self.heads, self.kernel = heads, kernel
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.pair = mlp([pair_features, width, heads if kernel == "softmax" else width])
        self.relative = mlp([pair_features, width, width]) if relative_values else None
        self.attention = None if kernel == "softmax" else KernelAttention(width // heads, kernel)
        self.ff = mlp([width, ff_width, width])

    def forward(self, h, pairs, neighbours=None, mask=None):
        batch, n, width = h.shape
        if neighbours is not None:
            mixed = self._local(h, pairs, neighbours, mask)
        elif self.kernel != "softmax":
            h = h + (self.pair(pairs) * off_diagonal(n, h)).sum(2)
            q, k, v = self._qkv(h).permute(2, 0, 3, 1, 4)
            mixed = self.attention(q, k, v, q.shape[-1] ** -0.5).transpose(1, 2)
        elif self.relative is None and mask is None:
            q, k, v = self._qkv(h).permute(2, 0, 3, 1, 4)
            bias = self.pair(pairs).permute(0, 3, 1, 2)  # (B, heads, N, N)
            mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2)
        else:  # all pairs, written out: relative values or a cutoff
            q, k, v = self._qkv(h).unbind(2)  # (B, N, heads, dh)
            logits = torch.einsum("bihd,bjhd->bijh", q, k) * q.shape[-1] ** -0.5
            weights = self._weights(logits + self.pair(pairs), mask)
            mixed = torch.einsum("bijh,bjhd->bihd", weights, v)
            if self.relative is not None:
                mixed = mixed + self._relative_mix(weights, pairs)
        h = h + self.out(mixed.reshape(batch, n, width))
        return h + self.ff(self.norm2(h))

    def _qkv(self, h):
        batch, n, _ = h.shape
        return self.qkv(self.norm1(h)).view(batch, n, 3, self.heads, -1)

    @staticmethod
    def _weights(logits, mask):
        """Softmax over the neighbours (dim 2); a mask sets dropped pairs' logits to −∞."""
        if mask is not None:
            logits = logits.masked_fill(~mask[..., None], float("-inf"))
        return logits.softmax(2)

    def _relative_mix(self, weights, pairs):
        """Σ_j a_ij u_ij, per head: weights `(B, N, K, heads)`, pairs `(B, N, K, P)`."""
        u = self.relative(pairs)
        u = u.view(*u.shape[:3], self.heads, -1)
        return torch.einsum("bijh,bijhd->bihd", weights, u)

    def _local(self, h, pairs, neighbours, mask):
        """Softmax attention of each particle over its neighbours only."""
        if self.kernel != "softmax":
            raise ValueError("local attention (neighbours) needs kernel softmax")
        q, k, v = self._qkv(h).unbind(2)  # (B, N, heads, dh)
        batch = torch.arange(h.shape[0], device=h.device)[:, None, None]
        keys, values = k[batch, neighbours], v[batch, neighbours]  # (B, N, K, heads, dh)
        logits = (q[:, :, None] * keys).sum(-1) * q.shape[-1] ** -0.5
        weights = self._weights(logits + self.pair(pairs), mask)
        mixed = (weights[..., None] * values).sum(2)
        if self.relative is not None:
            mixed = mixed + self._relative_mix(weights, pairs)
        return mixed

"""Stiefel weights trained by Adam on the manifold, as GeometricMachineLearning.jl trains them:
every query, key and value projection P ∈ R^{d × d/h} (PᵀP = I) of a model is one slice of a
single geoopt `ManifoldParameter`, which `geoopt.optim.RiemannianAdam` keeps on the manifold
(Riemannian gradient, Adam moments transported, a retraction after each step).

One batched parameter instead of one per projection: the deep model has 16 × 3 × 4 of them,
and stepping each alone cost more than the model's own forward and backward (measured: 108 s
against 43 s for 10 epochs)."""

import geoopt
import torch
from torch import nn

from phasebench.layers.attention import MultiHeadAttention


class StiefelProjection(nn.Module):
    """x ↦ x P with P = bases[index]; `weight` is Pᵀ, as an `nn.Linear` without bias has."""

    def __init__(self, bases: geoopt.ManifoldParameter, index: int):
        super().__init__()
        self.bases, self.index = bases, index

    @property
    def weight(self) -> torch.Tensor:
        return self.bases[self.index].T

    def forward(self, x):
        return x @ self.bases[self.index]


def put_on_stiefel(model: nn.Module) -> geoopt.ManifoldParameter:
    """Replace every attention projection of `model` by a random orthonormal basis (GML's
    initialisation), all held in one `ManifoldParameter`, which is returned."""
    attentions = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    projections = [
        (group, i)
        for attention in attentions
        for group in (attention.query, attention.key, attention.value)
        for i in range(len(group))
    ]
    shapes = {(group[i].in_features, group[i].out_features) for group, i in projections}
    if len(shapes) != 1:
        raise ValueError(f"Stiefel projections of one shape expected, got {sorted(shapes)}")
    (dim, out) = shapes.pop()
    manifold = geoopt.Stiefel()  # the canonical metric
    bases = geoopt.ManifoldParameter(manifold.random(len(projections), dim, out), manifold)
    for index, (group, i) in enumerate(projections):
        group[i] = StiefelProjection(bases, index)
    return bases


def manifold_parameters(model: nn.Module) -> list[geoopt.ManifoldParameter]:
    return [p for p in model.parameters() if isinstance(p, geoopt.ManifoldParameter)]

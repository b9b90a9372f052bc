"""Local attention of particle_transformer: k nearest neighbours (nearest periodic images in a
box), the same function as full attention when k ≥ N − 1, permutation-equivariant, and
blind to particles outside the neighbourhood."""

import numpy as np
import pytest
import torch
from test_particles import permute

from phasebench.errors import PluginError
from phasebench.layers.neighbourhood import DENSE_SEARCH, displacements, neighbour_indices
from phasebench.model import build_model
from phasebench.plugin_check import system_spec
from phasebench.system import build_system


def inputs(name, batch=3, seed=0, **params):
    system = build_system(name, params)
    rng = np.random.default_rng(seed)
    features = system.sample_features(rng, batch)
    states = system.with_features(features).sample_initial(rng, batch)
    return (
        system_spec(system),
        torch.tensor(states)[:, None],
        torch.tensor(features, dtype=torch.float64),
    )


def built(spec, **hparams):
    torch.manual_seed(0)
    hparams = {"width": 32, "depth": 2, **hparams}
    return build_model("particle_transformer", spec, hparams, torch.float64).eval()


@pytest.mark.parametrize("name", ["nbody_charged", "lennard_jones"])
def test_all_neighbours_is_full_attention(name):
    spec, window, features = inputs(name)
    full = built(spec)
    with torch.no_grad():
        expected = full(window, features)
        for k in (spec.particles - 1, spec.particles + 4):
            local = built(spec, neighbours=k)
            torch.testing.assert_close(local(window, features), expected, rtol=0, atol=1e-5)
        # k = N − 2 leaves each particle's farthest out: no longer the same function.
        fewer = built(spec, neighbours=spec.particles - 2)(window, features)
        assert (fewer - expected).abs().max() > 1e-6


@pytest.mark.parametrize("name", ["nbody_charged", "lennard_jones"])
def test_local_attention_is_permutation_equivariant(name):
    spec, window, features = inputs(name)
    model = built(spec, neighbours=3)
    order = torch.tensor(np.random.default_rng(3).permutation(spec.particles))
    with torch.no_grad():
        out = model(window, features)
        moved = model(*permute(window, features, order, spec))
    expected, _ = permute(out, features, order, spec)
    torch.testing.assert_close(moved, expected, rtol=0, atol=1e-5)


def positions(window, spec):
    n, d = spec.particles, spec.space_dim
    return window[:, 0, : n * d].reshape(-1, n, d)


def test_a_particle_outside_the_neighbourhood_changes_nothing():
    spec, window, features = inputs("lennard_jones", batch=1)
    model = built(spec, neighbours=4, depth=1)  # one layer: the neighbourhood is the reach
    x = positions(window, spec)
    index = neighbour_indices(x, 4, spec.box[0])
    far = next(j for j in range(spec.particles) if j not in index[0, 0].tolist())
    moved = window.clone()
    n, d = spec.particles, spec.space_dim
    moved[0, 0, n * d + far * d] += 1.0  # its momentum: the positions (neighbourhoods) stay
    with torch.no_grad():
        out, other = model(window, features), model(moved, features)
    own = slice(0, d)  # particle 0's position in the output
    torch.testing.assert_close(out[0, 0, own], other[0, 0, own], rtol=0, atol=1e-12)
    assert (out - other).abs().max() > 1e-6  # the moved particle's own output did change


def test_a_particle_by_the_wall_sees_its_neighbour_across_it():
    spec, window, features = inputs("lennard_jones", batch=1)
    side = spec.box[0]
    n, d = spec.particles, spec.space_dim
    x = positions(window, spec).clone()
    x[0, 0], x[0, 1] = torch.tensor([0.1, 3.0]), torch.tensor([side - 0.2, 3.0])
    index = neighbour_indices(x, 1, side)
    assert index[0, 0].tolist() == [0, 1]  # 0.3 apart through the wall at x = 0
    assert displacements(x[0, 0], x[0, 1], side)[0].item() == pytest.approx(0.3)
    # Moving particle 1 by a whole box side (another image of it) changes no prediction
    # but its own position's.
    window = window.clone()
    window[0, 0, : n * d] = x.flatten()
    shifted = window.clone()
    shifted[0, 0, 2] -= side
    model = built(spec, neighbours=3)
    with torch.no_grad():
        out, other = model(window, features), model(shifted, features)
    out[0, 0, 2] -= side
    torch.testing.assert_close(out, other, rtol=0, atol=1e-9)


def test_the_tree_search_finds_the_dense_search_s_neighbours():
    count = DENSE_SEARCH + 44
    spec, window, _ = inputs("lennard_jones", batch=2, particles=count)
    x, side = positions(window, spec), spec.box[0]
    found = neighbour_indices(x, 6, side)
    diff = displacements(x[:, :, None], x[:, None], side)
    nearest = (diff * diff).sum(-1).topk(7, dim=-1, largest=False).indices
    assert found.shape == (2, count, 7)
    assert (found[..., 0] == torch.arange(count)).all()
    assert (found.sort(-1).values == nearest.sort(-1).values).all()


def test_a_cutoff_drops_far_neighbours_and_local_needs_softmax():
    spec, window, features = inputs("lennard_jones")
    with torch.no_grad():
        wide = built(spec, neighbours=8, cutoff=100.0)(window, features)
        plain = built(spec, neighbours=8)(window, features)
        near = built(spec, neighbours=8, cutoff=1.2)(window, features)
    torch.testing.assert_close(wide, plain)
    assert (near - plain).abs().max() > 1e-6
    with pytest.raises(PluginError, match="need kernel softmax"):
        built(spec, neighbours=4, kernel="relu")

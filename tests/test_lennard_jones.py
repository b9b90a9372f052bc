"""The Lennard-Jones system: a periodic box, neighbour lists that give the all-pairs forces,
unwrapped positions, and data that conserve energy and momentum to the data check's tolerance."""

import numpy as np
import pytest
import torch

from phasebench import neighbours
from phasebench.config import resolve, simulate_settings
from phasebench.data import write_store
from phasebench.datatools import check
from phasebench.errors import PluginError
from phasebench.integrators import INTEGRATORS
from phasebench.simulation import simulate
from phasebench.system import build_system


def bound(seed=0, n=3, **params):
    system = build_system("lennard_jones", params)
    rng = np.random.default_rng(seed)
    system = system.with_features(system.sample_features(rng, n))
    return system, system.sample_initial(rng, n)


def dense_force(system, q):
    """−∇V over all pairs (autograd of the torch path, no neighbour list)."""
    qt = torch.tensor(q.reshape(len(q), system.particles, system.space_dim), requires_grad=True)
    system.potential(qt).sum().backward()
    return -qt.grad.numpy().reshape(q.shape)


# The last: a box near the smallest allowed (half its side 3.16, cutoff + skin 2.9), where a
# kept pair's image may stop being its nearest one (then beyond the cutoff).
@pytest.mark.parametrize(
    "params", [{}, {"space_dim": 3, "particles": 216}, {"particles": 32, "density": 0.8}]
)
def test_the_neighbour_list_forces_equal_all_pairs_forces_along_a_trajectory(params):
    system, x0 = bound(**params)
    path = INTEGRATORS["stormer_verlet"](system.vector_field, x0, 0.02, 40, 4)
    half = system.particles * system.space_dim
    searched = system._neighbours("field").searched  # configurations searched, in all
    assert len(x0) < searched < 160 * len(x0)  # the list was reused, and searched again
    for t in (0, 20, 40):
        q = path[:, t, :half]
        np.testing.assert_allclose(system.force(q), dense_force(system, q), atol=1e-9)


def test_a_particle_near_the_edge_feels_its_neighbour_across_the_box():
    system, x0 = bound(n=1)
    side = system.box[0]
    q = x0[:, : system.particles * 2].copy().reshape(1, -1, 2)
    q[0, :2] = [[0.1, 5.0], [side - 1.0, 5.0]]  # 1.1 apart through the wall at x = 0
    q[0, 2:] = q[0, 2:] % 1  # the others far away, in one corner cell
    q[0, 2:, 1] += 1.0 + np.linspace(0, 1e-3, q.shape[1] - 2)
    q[0, 2:, 0] = 4 + 0.9 * np.arange(q.shape[1] - 2) % 2.5
    force = system.force(q.reshape(1, -1)).reshape(q.shape)
    np.testing.assert_allclose(force, dense_force(system, q.reshape(1, -1)).reshape(q.shape))
    r = 1.1
    expected = 24 * (2 * r**-13 - r**-7)  # repulsion at r < 2^(1/6): pushes particle 0 to +x
    assert force[0, 0, 0] == pytest.approx(expected, rel=1e-9)


def test_positions_are_stored_unwrapped():
    system, x0 = bound(n=1)
    half = system.particles * 2
    # Shift the whole configuration so that particle 0 sits by the wall at x = L, and boost it
    # all towards +x (neither changes the forces): particle 0 crosses the wall.
    x0[0, :half:2] += system.box[0] - 0.05 - x0[0, 0]
    x0[0, half::2] += 3.0
    path = INTEGRATORS["stormer_verlet"](system.vector_field, x0, 0.02, 5, 4)
    assert path[0, -1, 0] > system.box[0]  # not folded back into the box


def test_a_cutoff_beyond_half_the_box_is_refused_with_a_sentence():
    with pytest.raises(PluginError, match="half the box side"):
        _ = build_system("lennard_jones", {"particles": 16}).box


def test_the_data_conserve_energy_and_momentum_and_pass_the_check(tmp_path):
    entry = {"name": "lennard_jones", "n_trajectories": 6, "n_steps": 30, "burn_in": 10}
    entry["reference_trajectories"] = 0
    settings = simulate_settings(resolve({"systems": [entry]})["systems"]["lennard_jones"])
    ds = simulate(build_system("lennard_jones"), settings)
    assert ds.attrs["max_rel_energy_error"] < ds.attrs["invariant_tolerance"]
    assert ds.attrs["max_rel_momentum_x_error"] < 1e-10
    assert ds.attrs["box"] == pytest.approx([(64 / 0.7) ** 0.5] * 2)
    # The lattice melted during the burn-in: the stored start is no longer on lattice sites.
    kinetic = (ds["state"].values[:, :, 128:] ** 2).mean()
    assert 0.3 < kinetic < 3
    write_store(ds, tmp_path / "lj.zarr")
    assert check(tmp_path / "lj.zarr") == []


def test_a_blown_up_configuration_does_not_stop_the_others():
    """A reference row one step per saved sample may blow up; the neighbour search used to
    raise on its non-finite positions, or on huge ones that the fold into the box left
    outside it ("greater than the size of the periodic box")."""
    system, x0 = bound(n=3)
    half = system.particles * system.space_dim
    q = x0[:, :half].copy()
    q[0, :4] = np.nan
    q[1, :4] = [2.944095308045066e18, -2.9e18, 3e17, -7e19]  # finite, folded only roughly
    with np.errstate(all="raise"):  # and without warnings
        force = system.force(q)
    assert np.isfinite(force[2]).all()
    np.testing.assert_allclose(force[2], system.force(x0[2:, :half])[0])


def test_a_blown_up_trajectory_does_not_freeze_the_others_neighbour_lists():
    """The list used to be searched again when the largest move of all particles passed half
    the skin; once one trajectory held NaN, that largest move was NaN, no search ever came
    again, and the other trajectories kept a stale list (missing pairs, wrong forces)."""
    system, x0 = bound(n=2)
    path = INTEGRATORS["stormer_verlet"](system.vector_field, x0, 0.02, 40, 4)
    half = system.particles * system.space_dim
    lost = build_system("lennard_jones").with_features(np.ones((2, system.particles, 1)))
    for t in range(41):
        q = path[:, t, :half].copy()
        if t > 0:
            q[0] = np.nan  # trajectory 0 blew up after the first search
        force = lost.force(q)
    np.testing.assert_allclose(force[1], dense_force(system, path[1:, 40, :half])[0], atol=1e-9)


@pytest.mark.parametrize(
    "params, block_pairs, blocks",
    [({}, neighbours.BLOCK_PAIRS, 1), ({}, 400, 3), ({"space_dim": 3, "particles": 216}, 4000, 3)],
)
def test_trajectories_follow_a_plain_all_pairs_integration(
    monkeypatch, params, block_pairs, blocks
):
    """Störmer–Verlet with the neighbour lists (in one block, or one configuration a block),
    the kept images and each step's force reused, against a plain kick–drift–kick loop with
    the all-pairs autograd forces (no list, two forces a step), over 60 steps."""
    monkeypatch.setattr(neighbours, "BLOCK_PAIRS", block_pairs)
    system, x0 = bound(n=3, **params)
    path = INTEGRATORS["stormer_verlet"](system.vector_field, x0, 0.02, 15, 4)
    half = system.particles * system.space_dim
    q, p, h = x0[:, :half].copy(), x0[:, half:].copy(), 0.005
    for _ in range(60):
        p += h / 2 * dense_force(system, q)
        q += h * p
        p += h / 2 * dense_force(system, q)
    np.testing.assert_allclose(path[:, -1], np.concatenate([q, p], 1), rtol=0, atol=1e-9)
    assert len(system._neighbours("field").blocks) == blocks

"""Particle systems and particle models: the store's particle features, conservation of the
softened N-body system, and the symmetries the particle models have by construction."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.spatial.transform import Rotation

from phasebench.config import resolve, simulate_settings
from phasebench.data import write_store
from phasebench.datatools import check, summary
from phasebench.model import build_model
from phasebench.plugin_check import system_spec
from phasebench.simulation import simulate
from phasebench.system import build_system
from phasebench.training import spec_from_store

PARTICLE_MODELS = ["particle_transformer", "egnn", "gnn", "linear"]


def particle_store(tmp_path, name="nbody_charged", **entry):
    settings = resolve({"systems": [{"name": name, "n_trajectories": 10, "n_steps": 20, **entry}]})
    ds = simulate(build_system(name), simulate_settings(settings["systems"][name]))
    write_store(ds, tmp_path / f"{name}.zarr")
    return tmp_path / f"{name}.zarr", ds


def test_a_particle_store_keeps_the_features_and_tells_models_the_layout(tmp_path):
    path, ds = particle_store(tmp_path)
    assert ds["particle_features"].dims == ("trajectory", "particle", "feature")
    assert ds["particle_features"].shape == (12, 5, 1)  # 10 + 2 test_ood trajectories
    assert set(np.unique(ds["particle_features"].values)) == {-1.0, 1.0}
    spec = spec_from_store(xr.open_zarr(path))
    assert (spec.particles, spec.space_dim, spec.feature_names) == (5, 3, ("charge",))
    assert spec.state_names[:4] == ("x1", "y1", "z1", "x2") and spec.state_names[15] == "px1"
    assert "particles" in spec.capabilities
    # Velocities of norm 0.5 (p = v, unit masses); test_ood twice that.
    p = ds["state"].values[:, 0, 15:].reshape(12, 5, 3)
    speeds = np.linalg.norm(p, axis=-1)
    inside = (ds["split"] != "test_ood").values
    np.testing.assert_allclose(speeds[inside], 0.5, rtol=1e-6)
    np.testing.assert_allclose(speeds[~inside], 1.0, rtol=1e-6)
    shown = summary(path)
    assert "5 in 3D" in shown and "feature charge per particle: -1, 1" in shown


def test_softened_system_conserves_energy_and_momenta_and_the_check_needs_the_charges(tmp_path):
    path, ds = particle_store(tmp_path)
    tolerance = ds.attrs["invariant_tolerance"]
    assert ds.attrs["max_rel_energy_error"] < tolerance
    for axis in "xyz":
        assert ds.attrs[f"max_rel_momentum_{axis}_error"] < 1e-10
        assert ds.attrs[f"max_rel_angular_momentum_{axis}_error"] < 1e-10
    assert check(path) == []
    # With one charge flipped the stored motion no longer conserves the checked energy.
    flipped = xr.open_zarr(path, consolidated=False).load()
    flipped["particle_features"][0, 0, 0] *= -1
    write_store(flipped, tmp_path / "flipped.zarr")
    assert any("energy" in problem for problem in check(tmp_path / "flipped.zarr"))


def test_the_paper_update_clips_forces_and_is_first_order():
    system = build_system("nbody_charged", {"softening": 0.0, "force_clip": 100.0})
    bound = system.with_features(np.array([[[1.0], [-1.0], [1.0], [1.0], [-1.0]]]))
    x = np.zeros((1, 30))
    x[0, :3], x[0, 3:6] = [0.0, 0.0, 0.0], [1e-3, 0.0, 0.0]  # two particles 1e-3 apart
    x[0, 6:15] = np.arange(9.0) + 3
    force = bound.force(x[:, :15])
    assert np.abs(force).max() == 100.0  # 1/r² = 1e6 clipped per component


def test_gravity_starts_at_rest_and_conserves_its_invariants(tmp_path):
    _, ds = particle_store(tmp_path, "gravity_nbody")
    assert ds["feature"].values.tolist() == ["mass"]
    assert ds.attrs["max_rel_energy_error"] < ds.attrs["invariant_tolerance"]
    assert ds.attrs["max_rel_angular_momentum_error"] < 1e-10
    assert np.abs(ds["momentum_x"].values).max() < 1e-10


def model_inputs(name="nbody_charged", batch=6, seed=0):
    system = build_system(name)
    rng = np.random.default_rng(seed)
    features = system.sample_features(rng, batch)
    states = system.with_features(features).sample_initial(rng, batch)
    to = torch.float64
    return (
        system_spec(system),
        torch.tensor(states, dtype=to)[:, None],
        torch.tensor(features, dtype=to),
    )


def built(plugin, spec, **hparams):
    torch.manual_seed(0)
    return build_model(plugin, spec, hparams, torch.float64).eval()


def permute(state, features, order, spec):
    """The same physical state with its particles listed in `order`."""
    n, d = spec.particles, spec.space_dim
    q, p = state[..., : n * d].reshape(-1, n, d), state[..., n * d :].reshape(-1, n, d)
    joined = torch.cat([q[:, order].flatten(1), p[:, order].flatten(1)], -1)
    return joined.reshape(state.shape), features[:, order]


@pytest.mark.parametrize(
    ("plugin", "hparams"),
    [
        ("particle_transformer", {}),
        ("particle_transformer", {"kernel": "relu"}),
        ("particle_transformer", {"kernel": "favor"}),
        ("egnn", {}),
        ("gnn", {}),
    ],
)
@pytest.mark.parametrize("system", ["nbody_charged", "gravity_nbody"])
def test_permuting_the_particles_permutes_the_prediction(plugin, hparams, system):
    spec, window, features = model_inputs(system)
    model = built(plugin, spec, **hparams)
    order = torch.tensor(np.random.default_rng(3).permutation(spec.particles))
    with torch.no_grad():
        out = model(window, features)
        moved_window, moved_features = permute(window, features, order, spec)
        moved = model(moved_window, moved_features)
    expected, _ = permute(out, features, order, spec)
    assert (out - window).abs().max() > 1e-3  # the model does something
    torch.testing.assert_close(moved, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("system", ["nbody_charged", "gravity_nbody"])
def test_egnn_commutes_with_rotations_and_translations(system):
    spec, window, features = model_inputs(system)
    n, d = spec.particles, spec.space_dim
    model = built("egnn", spec)
    rotation = Rotation.random(random_state=5).as_matrix()[:d, :d]
    if d == 2:  # a rotation of the plane
        angle = 0.7
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotation = torch.tensor(rotation)
    shift = torch.tensor(np.random.default_rng(6).normal(size=d) * 3)

    def moved(state):
        q, p = state[..., : n * d].reshape(-1, n, d), state[..., n * d :].reshape(-1, n, d)
        q, p = q @ rotation.T + shift, p @ rotation.T
        return torch.cat([q.flatten(1), p.flatten(1)], -1).reshape(state.shape)

    with torch.no_grad():
        out = model(window, features)
        torch.testing.assert_close(model(moved(window), features), moved(out), rtol=0, atol=1e-5)


@pytest.mark.parametrize("plugin", PARTICLE_MODELS)
def test_particle_models_roll_out_with_the_features(plugin):
    spec, window, features = model_inputs()
    model = built(plugin, spec)
    path = model.rollout(window, 4, features)
    assert path.shape == (6, 5, 30) and torch.isfinite(path).all()
    torch.testing.assert_close(path[:, 1:2], model(window, features))


def test_linear_moves_along_the_momenta():
    spec, window, features = model_inputs()
    model = built("linear", spec)
    out = model(window, features)[:, 0]
    torch.testing.assert_close(out[:, :15], window[:, 0, :15] + spec.dt * window[:, 0, 15:])
    torch.testing.assert_close(out[:, 15:], window[:, 0, 15:])


def test_a_float64_store_trains_a_float32_particle_model(tmp_path):
    """The data module casts a float64 store to the weights' dtype (it used to hand float64
    windows and features to float32 layers, which failed in the first matrix product)."""
    from phasebench.training import PluginModule, TrajectoryWindows

    path, _ = particle_store(tmp_path, dtype="float64")
    spec = spec_from_store(xr.open_zarr(path))
    module = PluginModule("particle_transformer", {"width": 16, "depth": 1}, spec.to_dict(), {
        "precision": "32", "loss": "mse", "compile": False,
    })  # fmt: skip
    data = TrajectoryWindows(path, 1, 1, 16, features=True, dtype=torch.float32)
    data.setup("fit")
    window, target, features = next(iter(data.train_dataloader()))
    assert window.dtype == target.dtype == features.dtype == torch.float32
    assert features.shape == (16, 5, 1)
    assert torch.isfinite(module.loss(window, target, features))


def test_rotated_test_data_leave_the_egnn_error_and_change_the_transformer_s():
    from phasebench.evaluation import one_step_error, rotated
    from phasebench.integrators import INTEGRATORS

    system = build_system("nbody_charged")
    rng = np.random.default_rng(4)
    features = system.sample_features(rng, 6)
    bound = system.with_features(features)
    truth = INTEGRATORS["stormer_verlet"](
        bound.vector_field, bound.sample_initial(rng, 6), 0.1, 3, 20
    )
    turned = rotated(truth, 5, 3)
    lengths = np.linalg.norm(truth.reshape(6, 4, 10, 3), axis=-1)
    np.testing.assert_allclose(np.linalg.norm(turned.reshape(6, 4, 10, 3), axis=-1), lengths)
    assert np.abs(turned - truth).max() > 0.1
    spec = system_spec(system)
    egnn, transformer = built("egnn", spec), built("particle_transformer", spec)
    same = one_step_error(egnn, truth, features), one_step_error(egnn, turned, features)
    assert same[0] == pytest.approx(same[1], rel=1e-6)
    other = (
        one_step_error(transformer, truth, features),
        one_step_error(transformer, turned, features),
    )
    assert other[0] != pytest.approx(other[1], rel=1e-3)


def concatenated_edge_messages(edge, h, pair_inputs):
    """The edge MLP as the paper writes it: φ_e(concat(h_i, h_j, pair_ij)) on all N² pairs,
    the self-pairs masked to zero (the layers' formulation before the first layer was
    factored per particle)."""
    n = h.shape[1]
    both = torch.cat([h[:, :, None].expand(-1, -1, n, -1), h[:, None].expand(-1, n, -1, -1)], -1)
    return edge(torch.cat([both, pair_inputs], -1)) * (1 - torch.eye(n, dtype=h.dtype))[..., None]


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_the_factored_edge_layers_equal_the_concatenated_formulation(n):
    from phasebench.layers import EGNNLayer, MessagePassingLayer, drop_diagonal, pair_geometry

    torch.manual_seed(n)
    batch, width, n_features = 4, 16, 2
    h, x, v = (torch.randn(batch, n, k, dtype=torch.float64) for k in (width, 3, 3))
    edges = torch.randn(batch, n, n, n_features, dtype=torch.float64)
    egnn = EGNNLayer(width, n_features).double()
    diff, r2 = pair_geometry(x)
    m = concatenated_edge_messages(egnn.edge, h, torch.cat([r2, edges], -1))
    shift = (diff * egnn.coord(m)).clamp(-100, 100).sum(2) / max(n - 1, 1)
    v_ref = egnn.velocity(h) * v + shift
    h_ref = h + egnn.node(torch.cat([h, m.sum(2)], -1))
    for got, want in zip(egnn(h, x, v, edges), (h_ref, x + v_ref, v_ref), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    passing = MessagePassingLayer(width, n_features).double()
    m = concatenated_edge_messages(passing.edge, h, edges)
    want = h + passing.node(torch.cat([h, m.sum(2)], -1))
    torch.testing.assert_close(passing(h, edges), want, rtol=0, atol=1e-6)
    # drop_diagonal keeps exactly the pairs (i, j ≠ i), in order.
    index = torch.arange(n * n).reshape(1, n, n)
    kept = [[i * n + j for j in range(n) if j != i] for i in range(n)]
    assert drop_diagonal(index)[0].tolist() == kept


def test_each_egnn_layer_scales_the_input_velocity_as_in_the_papers_equation_7():
    # Before: a layer scaled the previous layer's v, so φ_v's of all layers multiplied.
    from phasebench.layers import EGNNLayer

    torch.manual_seed(0)
    h, x, v0, v = (torch.randn(2, 5, k, dtype=torch.float64) for k in (16, 3, 3, 3))
    edges = torch.randn(2, 5, 5, 1, dtype=torch.float64)
    paper = EGNNLayer(16, 1).double()
    _, x_paper, v_paper = paper(h, x, v, edges, v0)
    _, x_input, v_input = paper(h, x, v0, edges, v0)  # v enters only through v⁰
    torch.testing.assert_close((x_paper, v_paper), (x_input, v_input), rtol=0, atol=0)
    carried = EGNNLayer(16, 1, carry_velocity=True).double()
    carried.load_state_dict(paper.state_dict())
    _, x_carried, _ = carried(h, x, v, edges, v0)
    assert (x_carried - x_paper).abs().max() > 1e-3


def test_egnn_takes_the_input_distances_as_an_edge_attribute_like_the_papers_code():
    spec = model_inputs()[0]
    with_distance, without = built("egnn", spec), built("egnn", spec, input_distance=False)
    # One more input of every layer's first edge layer: ‖x_i − x_j‖² of the input state.
    assert [layer.edge[0].in_features for layer in with_distance.layers] == [
        layer.edge[0].in_features + 1 for layer in without.layers
    ]


def test_egnn_charges_enter_only_as_pair_products_like_the_papers_code():
    # The paper's node input is ‖v_i‖ alone: flipping every charge leaves every q_i q_j, and so
    # the prediction, alone. Before, the charges were also node inputs and the flip showed.
    spec, window, features = model_inputs()
    paper, with_charges = built("egnn", spec), built("egnn", spec, node_features=True)
    assert paper.embed.in_features == 1 and with_charges.embed.in_features == 2
    with torch.no_grad():
        torch.testing.assert_close(
            paper(window, -features), paper(window, features), rtol=0, atol=0
        )
        flipped = with_charges(window, -features) - with_charges(window, features)
    assert flipped.abs().max() > 1e-4


def test_egnn_coordinate_head_starts_near_zero_without_a_bias_like_the_papers_code():
    # With the input velocities at zero, positions move only by the coordinate messages
    # (x_i − x_j) φ_x(m_ij): the paper's bias-free head with gain 0.001 keeps them ~1e-3 at
    # initialisation; PyTorch's default bias (up to ±1/8) made them ~1e-1.
    spec, window, features = model_inputs()
    half = spec.particles * spec.space_dim
    at_rest = window.clone()
    at_rest[..., half:] = 0
    moved = {}
    for bias in (False, True):
        with torch.no_grad():
            out = built("egnn", spec, coord_bias=bias)(at_rest, features)
        moved[bias] = (out[..., :half] - at_rest[..., :half]).abs().max().item()
    assert moved[False] < 1e-2
    assert moved[True] > 10 * moved[False]


@pytest.mark.parametrize("activation", [True, False])
def test_egnn_edge_messages_end_in_a_silu_like_the_papers_code(activation):
    from phasebench.layers import EGNNLayer

    torch.manual_seed(1)
    layer = EGNNLayer(16, 1, edge_activation=activation).double()
    messages = layer.edge(10 * torch.randn(500, layer.edge[0].in_features, dtype=torch.float64))
    silu_min = -0.2785  # min of x·σ(x), at x ≈ −1.28
    assert (messages.min() >= silu_min) == activation


def test_random_rotations_are_rotations():
    from phasebench.layers import random_rotations

    torch.manual_seed(0)
    turns = random_rotations(64, 3, torch.zeros((), dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    torch.testing.assert_close(turns @ turns.transpose(1, 2), eye, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.linalg.det(turns), torch.ones(64, dtype=torch.float64))
    assert turns.std(0).min() > 0.3  # a different rotation per pair, spread over the group


def test_transformer_rotate_training_trains_on_turned_pairs_and_predicts_unturned():
    from phasebench.layers import random_rotations

    spec, window, features = model_inputs()
    n, d = spec.particles, spec.space_dim
    plain, turned = (
        built("particle_transformer", spec),
        built("particle_transformer", spec, rotate_training=True),
    )
    with torch.no_grad():
        # Eval mode (validation, evaluation, rollouts): the model itself.
        torch.testing.assert_close(turned(window, features), plain(window, features))
        # Training mode: Rᵀ f(R s) with the rotations the seeded generator draws.
        turned.train()
        torch.manual_seed(7)
        got = turned(window, features)
        torch.manual_seed(7)
        rot = random_rotations(window.shape[0], d, window)
        vectors = window.reshape(-1, 2 * n, d) @ rot.transpose(1, 2)
        out = plain(vectors.reshape(window.shape), features).reshape(-1, 2 * n, d) @ rot
    torch.testing.assert_close(got, out.reshape(window.shape), rtol=0, atol=1e-12)
    assert (got - plain(window, features)).abs().max() > 1e-4  # not equivariant: it matters


def test_transformer_rotate_training_refuses_a_periodic_box():
    from phasebench.errors import PluginError

    spec = system_spec(build_system("lennard_jones"))
    assert spec.box
    with pytest.raises(PluginError, match="rotate_training needs an open space"):
        built("particle_transformer", spec, rotate_training=True)

"""start_time: time integrated before the first saved step, so that the stored clock begins at
start_time + burn_in·dt (the EGNN N-body generator's frames lie 0.1 after multiples of dt)."""

import numpy as np
import pytest
import yaml

from phasebench.config import resolve, simulate_settings
from phasebench.data import open_store, write_store
from phasebench.datatools import check, summary
from phasebench.errors import ConfigError
from phasebench.integrators import INTEGRATORS
from phasebench.metrics import rollout_scalars
from phasebench.simulation import simulate
from phasebench.system import build_system

from conftest import REPO

# coupled_oscillator: dt 0.4 (its default), 4 substeps of 0.1; nbody_charged as the EGNN
# config has it: 1000 substeps of 0.001 per saved step.
SMALL = {"n_trajectories": 4, "ood_fraction": 0.0, "reference_trajectories": 0}
ENTRIES = {
    "coupled_oscillator": {**SMALL, "n_steps": 5, "substeps": 4},
    "nbody_charged": {
        **SMALL,
        "params": {"softening": 0.0, "force_clip": 100.0},
        "integrator": "symplectic_euler",
        "dt": 1.0,
        "substeps": 1000,
        "n_steps": 4,
        "invariant_tolerance": 1000.0,
    },
}


def plan(name: str, **entry) -> dict:
    entry = {"name": name, **ENTRIES[name], "dtype": "float64", **entry}
    return simulate_settings(resolve({"systems": [entry], "models": ["linear"]})["systems"][name])


@pytest.mark.parametrize(
    ("name", "integrator", "substeps_before", "burn_in"),
    [
        ("coupled_oscillator", "yoshida4", 3, 0),
        ("coupled_oscillator", "yoshida4", 7, 2),
        ("coupled_oscillator", "rk4", 1, 1),
        ("coupled_oscillator", "implicit_midpoint", 5, 0),
        ("nbody_charged", "symplectic_euler", 100, 3),  # the EGNN frames 30 and 40
    ],
)
def test_stored_states_are_the_initial_states_integrated_for_start_time(
    name, integrator, substeps_before, burn_in
):
    base = plan(name, integrator=integrator)
    h = base["dt"] / base["substeps"]
    start_time = substeps_before * h
    ds = simulate(build_system(name, base["params"]), plan(
        name, integrator=integrator, start_time=start_time, burn_in=burn_in
    ))  # fmt: skip
    unshifted = simulate(build_system(name, base["params"]), base)
    x0 = unshifted["state"].values[:, 0]  # the sampled initial states (start_time 0)
    features = unshifted["particle_features"].values if "particle_features" in ds else None
    field = build_system(name, base["params"]).with_features(features).vector_field
    # One integration in substeps of h from the initial states, read at each stored time.
    total = substeps_before + base["n_steps"] * base["substeps"]
    path = INTEGRATORS[integrator](field, x0, h, total, 1)
    stored_at = substeps_before + np.arange(burn_in, base["n_steps"] + 1) * base["substeps"]
    np.testing.assert_allclose(ds["state"].values, path[:, stored_at], rtol=1e-9, atol=1e-12)
    expected_time = start_time + np.arange(burn_in, base["n_steps"] + 1) * base["dt"]
    np.testing.assert_allclose(ds["time"].values, expected_time, rtol=0, atol=1e-12)
    assert ds["time"].values[0] == pytest.approx(start_time + burn_in * base["dt"])
    assert ds.attrs["start_time"] == start_time and ds.attrs["burn_in"] == burn_in
    assert "start_time + k·dt" in ds["time"].attrs["comment"]


def test_the_egnn_config_stores_the_papers_frames_30_and_40_at_t_3_1_and_4_1():
    config = yaml.safe_load((REPO / "configs" / "nbody-egnn.yaml").read_text())
    entry = {**config["systems"][0], **SMALL, "splits": {}}
    plan_ = resolve({"systems": [entry], "models": ["linear"]})
    settings = simulate_settings(plan_["systems"]["nbody_charged"])
    ds = simulate(build_system("nbody_charged", settings["params"]), settings)
    np.testing.assert_allclose(ds["time"].values, [3.1, 4.1], rtol=0, atol=1e-12)


def test_data_show_and_check_read_the_clock(tmp_path):
    settings = plan("coupled_oscillator", start_time=0.3, burn_in=2)
    ds = simulate(build_system("coupled_oscillator"), settings)
    write_store(ds, tmp_path / "a.zarr")
    assert check(tmp_path / "a.zarr") == []
    assert "t = 1.1 … 2.3 after the initial state (start_time 0.3" in summary(tmp_path / "a.zarr")
    # A store whose clock disagrees with its start_time and burn_in is reported.
    moved = open_store(tmp_path / "a.zarr").load().drop_encoding()
    moved = moved.assign_coords(time=("time", moved["time"].values - 0.3, ds["time"].attrs))
    write_store(moved, tmp_path / "b.zarr")
    assert check(tmp_path / "b.zarr") == ["time begins at 0.8, not start_time + burn_in·dt = 1.1"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"start_time": 0.15},
            "x.yaml: systems[0].start_time 0.15 is not a whole number of integrator substeps "
            "(dt/substeps = 0.1); give a multiple of 0.1, or 0 to store from the initial state",
        ),
        (
            {"start_time": 0.1, "substeps": 1},
            "x.yaml: systems[0].start_time 0.1 is not a whole number of integrator substeps "
            "(dt/substeps = 0.4); give a multiple of 0.4, or 0 to store from the initial state",
        ),
        ({"start_time": -0.4}, "x.yaml: systems[0].start_time must be >= 0, not -0.4"),
    ],
)
def test_a_start_time_off_the_substep_grid_is_refused_with_a_sentence(entry, message):
    with pytest.raises(ConfigError) as caught:
        resolve(
            {"systems": [{"name": "coupled_oscillator", **entry}], "models": ["linear"]},
            source="x.yaml",
        )
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_whole_numbers_of_substeps_are_accepted_despite_float_rounding():
    # 0.3 / 0.1 is 2.9999999999999996 in floats: still three substeps.
    settings = plan("coupled_oscillator", start_time=0.3)
    assert settings["start_time"] == 0.3


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (  # burn_in used to be counted as stored: 11 states, not 7
            {"systems": [{"name": "pendulum", "n_steps": 10, "burn_in": 4}], "models": ["mlp"]},
            "model 'mlp' trains on windows of 8 states, but system 'pendulum' gives 7 per",
        ),
        (  # the training horizon is a time on the stored clock, which starts at 0.2 + 3·0.1
            {
                "systems": [
                    {"name": "pendulum", "start_time": 0.2, "burn_in": 3, "train_horizon": 1.0}
                ],
                "models": ["mlp"],
            },
            "system 'pendulum' gives 6 per trajectory for training; raise its train_horizon",
        ),
        (
            {
                "systems": [{"name": "coupled_oscillator", "burn_in": 10}],
                "evaluation": {"horizons": [1.0, 10.0]},
            },
            "evaluation.horizons [1.0] lie before the stored data of system "
            "'coupled_oscillator' (t >= 4, start_time + burn_in·dt)",
        ),
    ],
)
def test_windows_and_horizons_are_judged_on_the_stored_clock(config, message):
    with pytest.raises(ConfigError) as caught:
        resolve(config, source="x.yaml")
    assert message in str(caught.value)


def test_a_horizon_at_the_end_of_a_shifted_clock_is_accepted():
    config = {
        "systems": [{"name": "coupled_oscillator", "start_time": 0.4}],
        "evaluation": {"horizons": [80.4]},  # n_steps 200 of dt 0.4, after 0.4
    }
    assert resolve(config, source="x.yaml")["evaluation"]["horizons"] == [80.4]


def test_horizons_are_read_on_the_stored_clock_and_none_before_it():
    error = np.array([[0.0, 0.5]])
    scalars = rollout_scalars(error, {}, np.array([3.1, 4.1]), {
        "horizons": [1.0, 4.1], "valid_threshold": 0.1
    })  # fmt: skip
    # Before: error_t1 was the error at the given first state (0), as if t = 1 were stored.
    assert "error_t1" not in scalars
    assert scalars["error_t4.1"] == 0.5


def test_a_store_without_start_time_reads_as_zero(tmp_path):
    settings = plan("coupled_oscillator")
    ds = simulate(build_system("coupled_oscillator"), settings)
    del ds.attrs["start_time"]  # as written before the setting existed
    write_store(ds, tmp_path / "old.zarr")
    assert check(tmp_path / "old.zarr") == []
    assert "t = 0 … 2 after the initial state (start_time 0, " in summary(tmp_path / "old.zarr")


def test_training_reads_as_many_states_as_the_config_counts(tmp_path):
    """Before: training kept t <= train_horizon exactly, and 0.3 + 3·0.4 = 1.5000000000000002
    fell out, one state fewer than the config's window check had counted."""
    from phasebench.config import _samples
    from phasebench.training import TrajectoryWindows

    entry = {"start_time": 0.3, "burn_in": 0, "train_horizon": 1.5}
    settings = plan("coupled_oscillator", **entry)
    write_store(simulate(build_system("coupled_oscillator"), settings), tmp_path / "a.zarr")
    windows = TrajectoryWindows(tmp_path / "a.zarr", 1, 1, batch_size=4)
    windows.setup()
    _, counted = _samples(settings)
    assert counted == 4
    assert len(windows.train_set) == 2 * (counted - 1)  # 2 training trajectories of 4

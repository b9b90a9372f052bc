"""The split by N: test_ood at another number of particles, in a group of the store, scored
with the weights trained at the store's N; a flattened-state model is skipped with a note."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from phasebench.config import resolve, simulate_settings
from phasebench.data import open_store, write_store
from phasebench.datatools import check, summary
from phasebench.errors import ConfigError
from phasebench.evaluation import evaluate, evaluate_integrator
from phasebench.particle_ood import GROUP, n_split_summary, open_group, simulate_store
from phasebench.system import build_system
from phasebench.training import train

from conftest import TINY_TRAINING

SETTINGS = {"horizons": [0.1], "valid_threshold": 0.1}


@pytest.fixture(scope="module")
def split_store(tmp_path_factory):
    entry = {
        "name": "lennard_jones",
        "params": {"particles": 32},
        "n_trajectories": 12,
        "n_steps": 8,
        "ood_particles": 64,
        "reference_trajectories": 0,
    }
    settings = simulate_settings(resolve({"systems": [entry]})["systems"]["lennard_jones"])
    ds, groups = simulate_store(build_system("lennard_jones", {"particles": 32}), settings)
    path = tmp_path_factory.mktemp("data") / "lennard_jones.zarr"
    write_store(ds, path, groups)
    return path


def test_the_other_n_lives_in_a_group_that_continues_the_trajectories(split_store):
    root = open_store(split_store)
    assert "test_ood" not in set(root["split"].values)
    assert root.sizes["dof"] == 2 * 32 * 2
    group = open_group(split_store)
    assert set(group["split"].values) == {"test_ood"}
    assert group.sizes["trajectory"] == 4  # ood_fraction 0.15 of 12, at least 4
    assert group.sizes["dof"] == 2 * 64 * 2
    assert group["trajectory"].values.tolist() == [12, 13, 14, 15]
    assert json.loads(group.attrs["parameters"])["particles"] == 64
    assert group.attrs["box"] == pytest.approx([(64 / 0.7) ** 0.5] * 2)  # same density
    assert group.attrs["max_rel_energy_error"] < group.attrs["invariant_tolerance"]
    assert xr.open_zarr(split_store, consolidated=False).sizes["trajectory"] == 12
    assert check(split_store) == []
    assert (split_store / GROUP).is_dir()
    assert "test_ood      4 trajectories at N = 64 (group ood_particles)" in summary(split_store)


@pytest.fixture(scope="module")
def runs(split_store, tmp_path_factory):
    out = {}
    for plugin, hparams in (
        ("particle_transformer", {"width": 16, "depth": 1, "neighbours": 6}),
        ("resnet", {"width": 16, "depth": 1}),
    ):
        folder = tmp_path_factory.mktemp(plugin)
        out[plugin] = folder, train(split_store, folder, plugin, hparams, TINY_TRAINING, seed=0)
    return out


def test_a_particle_model_is_scored_at_the_other_n(split_store, runs):
    folder, summary = runs["particle_transformer"]
    curves, scalars = evaluate(
        folder / "best.ckpt", split_store, SETTINGS, summary, "particle_transformer"
    )
    assert scalars["ood_particles"] == 64 and scalars["train_particles"] == 32
    assert np.isfinite(scalars["ood_one_step_error"]) and np.isfinite(scalars["ood_final_error"])
    ood = curves["rel_error"].where(curves["split"] == "test_ood", drop=True)
    assert ood.sizes["trajectory"] == 4 and np.isfinite(ood.values).all()
    assert "ood_skipped" not in scalars


def test_a_flattened_state_model_is_skipped_with_a_sentence(split_store, runs):
    folder, summary = runs["resnet"]
    curves, scalars = evaluate(folder / "best.ckpt", split_store, SETTINGS, summary, "resnet")
    assert "flattened state" in scalars["ood_skipped"] and "N = 64" in scalars["ood_skipped"]
    assert "ood_one_step_error" not in scalars
    assert "test_ood" not in set(curves["split"].values)
    assert np.isfinite(scalars["one_step_error"])


def test_the_integrator_is_scored_at_the_other_n_and_the_report_says_so(split_store, runs):
    _, integrator = evaluate_integrator(split_store, "stormer_verlet", SETTINGS)
    # One step of dt (4 substeps in the data): about the same error at either N.
    assert integrator["ood_particles"] == 64
    assert integrator["ood_one_step_error"] == pytest.approx(integrator["one_step_error"], rel=1)
    folder, summary = runs["resnet"]
    _, skipped = evaluate(folder / "best.ckpt", split_store, SETTINGS, summary, "resnet")
    text = n_split_summary(pd.DataFrame([integrator, skipped]))
    assert "N = 32" in text and "N = 64" in text and "**resnet**" in text


def test_ood_particles_needs_a_particle_system():
    with pytest.raises(ConfigError, match="ood_particles needs a particle system"):
        resolve({"systems": [{"name": "pendulum", "ood_particles": 10}]})


def test_no_rotated_error_in_a_periodic_box(split_store, runs):
    """A turned periodic configuration is not one of the box's: the rotated one-step error
    (measured before the fix) meant nothing there."""
    folder, summary = runs["particle_transformer"]
    _, scalars = evaluate(folder / "best.ckpt", split_store, SETTINGS, summary, "transformer")
    assert "rotated_one_step_error" not in scalars

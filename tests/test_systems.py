"""Every system plugin: Hamiltonian fields, invariants, sampling, and data that validates."""

import json

import numpy as np
import pytest
import torch

from phasebench import registry
from phasebench.config import resolve, simulate_settings
from phasebench.data import write_store
from phasebench.errors import DataError
from phasebench.integrators import INTEGRATORS
from phasebench.simulation import simulate
from phasebench.system import build_system

from conftest import lane, phasebench_cli

SYSTEMS = sorted(registry.scan("systems"))
CANONICAL = [name for name in SYSTEMS if build_system(name).canonical]


def drawn(name: str, seed: int, n: int):
    """The system (bound to sampled particle features where it has particles) and n states."""
    system = build_system(name)
    if system.particle_system:
        system = system.with_features(system.sample_features(np.random.default_rng(seed + 7), n))
    return system, system.sample_initial(np.random.default_rng(seed), n)


def test_the_issue_s_systems_are_registered():
    assert set(SYSTEMS) >= {
        "coupled_oscillator",
        "oscillator_chain",
        "rigid_body",
        "pendulum",
        "double_pendulum",
        "henon_heiles",
        "kepler",
        "toda",
    }


def test_default_sizes_and_structure_follow_the_plugins_literals():
    assert build_system("oscillator_chain").dim == 50  # 25 masses by default
    assert build_system("oscillator_chain", {"n": 3}).dim == 6
    assert build_system("rigid_body").dim == 3 and not build_system("rigid_body").canonical


@pytest.mark.parametrize("name", CANONICAL)
def test_vector_field_is_j_times_the_gradient_of_h(name):
    """Autograd of the written Hamiltonian against the written field, float64."""
    system, x = drawn(name, 0, 6)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    system.hamiltonian(xt).sum().backward()
    grad, half = xt.grad.numpy(), system.dim // 2
    j_grad = np.concatenate([grad[:, half:], -grad[:, :half]], axis=1)
    np.testing.assert_allclose(system.vector_field(x), j_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", [lane(name) for name in SYSTEMS])
def test_invariants_hold_along_reference_solutions(name):
    # The reference integrator calls the field one state at a time: one particle system each.
    system, x0 = drawn(name, 1, 1 if build_system(name).particle_system else 3)
    # 30 steps of 0.1, or of the system's own shorter step: DOP853 at 1e-12 needs ~10^5 field
    # calls per unit of time through Lennard-Jones' close encounters.
    dt = min(0.1, system.default_dt)
    states = INTEGRATORS["reference"](system.vector_field, x0, dt, 30)
    timed = (
        system.with_features(system.features, trailing=1) if system.features is not None else system
    )
    for invariant, values in timed.invariants(states).items():
        scale = np.maximum(np.abs(values[:, :1]), 1.0)
        np.testing.assert_allclose(
            values,
            np.repeat(values[:, :1], 31, axis=1),
            rtol=0,
            atol=1e-8 * scale.max(),
            err_msg=f"{name}: {invariant}",
        )


@pytest.mark.parametrize("name", [lane(name) for name in SYSTEMS])
def test_default_data_validates_and_ood_lies_outside(name):
    # One reference trajectory is enough for the first-step check, and costs Lennard-Jones half.
    entry = {"name": name, "n_trajectories": 12, "n_steps": 40, "reference_trajectories": 1}
    if name == "rigid_body":
        entry = {"name": name, "initial_conditions": "sampled", "n_trajectories": 12}
    settings = simulate_settings(resolve({"systems": [entry]})["systems"][name])
    ds = simulate(build_system(name), settings)
    assert ds.attrs["validation"] == "passed"
    assert ds.attrs["max_rel_energy_error"] <= 1e-3
    assert ds.attrs["reference_state_error_first_step"] < 1e-3
    energy0 = ds["energy"].isel(time=0)
    inside = energy0.where(ds["split"] != "test_ood", drop=True).values
    outside = energy0.where(ds["split"] == "test_ood", drop=True).values
    assert len(outside) == 2  # ood_fraction 0.15 of 12
    assert np.ptp(inside) > 0  # sampled initial states really vary
    if name in ("coupled_oscillator", "pendulum", "henon_heiles", "rigid_body"):
        assert outside.min() > inside.max()  # a higher energy shell


def test_rigid_body_default_is_the_paper_data_set():
    settings = simulate_settings(resolve({"systems": ["rigid_body"]})["systems"]["rigid_body"])
    ds = simulate(build_system("rigid_body"), {**settings, "ood_fraction": 0.0})
    assert ds.sizes["trajectory"] == 1238 and ds.sizes["time"] == 101
    assert ds.attrs["integrator"] == "implicit_midpoint" and ds.attrs["dt"] == 0.2
    assert ds["time"].values[-1] == pytest.approx(20.0)
    assert ds.attrs["max_rel_casimir_error"] < 1e-12
    np.testing.assert_allclose(ds["state"].values[0, 0], [np.sin(0.1), 0, np.cos(0.1)], rtol=1e-6)


def test_uncoupled_chain_matches_the_harmonic_closed_form():
    chain = build_system("oscillator_chain", {"n": 4, "kappa": 0.0})
    x0 = chain.sample_initial(np.random.default_rng(2), 3)
    t = np.arange(101) * 0.1
    states = INTEGRATORS["yoshida4"](chain.vector_field, x0, 0.1, 100, 4)
    q0, p0 = x0[:, None, :4], x0[:, None, 4:]
    exact_q = q0 * np.cos(t)[None, :, None] + p0 * np.sin(t)[None, :, None]
    np.testing.assert_allclose(states[..., :4], exact_q, rtol=0, atol=1e-6)


def test_an_integrator_too_coarse_for_the_tolerance_is_refused_with_a_clear_sentence():
    entry = {"name": "pendulum", "n_trajectories": 8, "n_steps": 40, "substeps": 1}
    settings = simulate_settings(resolve({"systems": [entry]})["systems"]["pendulum"])
    with pytest.raises(DataError, match=r"relative energy error .* exceeds invariant_tolerance"):
        simulate(build_system("pendulum"), {**settings, "dt": 1.5, "integrator": "rk4"})


def test_separable_only_integrators_are_refused_for_non_separable_systems():
    from phasebench.errors import ConfigError

    with pytest.raises(ConfigError, match="yoshida4 needs a separable H"):
        resolve({"systems": [{"name": "double_pendulum", "integrator": "yoshida4"}]})


def test_data_show_and_check(tiny_store, tmp_path):
    shown = phasebench_cli("data", "show", str(tiny_store))
    assert shown.returncode == 0
    assert "coupled_oscillator" in shown.stdout and "test_ood 3" in shown.stdout
    assert phasebench_cli("data", "check", str(tiny_store)).returncode == 0
    # A store whose states were corrupted after writing is caught.
    import xarray as xr

    ds = xr.open_zarr(tiny_store, consolidated=False).load()
    ds["state"][0, 5:] *= 1.5
    write_store(ds, tmp_path / "corrupt.zarr")
    checked = phasebench_cli("data", "check", str(tmp_path / "corrupt.zarr"))
    assert checked.returncode == 1 and "relative energy error" in checked.stdout
    # The way back is said, and --fix takes it: Snakemake rebuilds a store that is missing.
    assert f"rm -r {tmp_path}/corrupt.zarr" in checked.stdout
    healthy = phasebench_cli("data", "check", "--fix", str(tiny_store))
    assert healthy.returncode == 0 and tiny_store.is_dir()
    fixed = phasebench_cli("data", "check", "--fix", str(tmp_path / "corrupt.zarr"))
    assert fixed.returncode == 0 and "removed; run snakemake again" in fixed.stdout
    assert not (tmp_path / "corrupt.zarr").exists()
    missing = phasebench_cli("data", "check", str(tmp_path / "none.zarr"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"phasebench: {tmp_path}/none.zarr: no such data store; the pipeline writes it "
        f"(snakemake {tmp_path}/none.zarr)"
    )
    assert json.loads(ds.attrs["parameters"])["k"] == 1.0

"""System parameters drawn per trajectory (`sweep:`): a data coordinate, held-out values as
test_ood, and every consumer of the data using each trajectory's own parameters."""

import numpy as np
import pytest

from phasebench import registry
from phasebench.config import resolve, simulate_settings
from phasebench.data import trajectory_parameters, write_store
from phasebench.errors import ConfigError
from phasebench.evaluation import evaluate_integrator
from phasebench.integrators import INTEGRATORS
from phasebench.simulation import simulate
from phasebench.system import build_system
from phasebench.validation import relative_invariant_errors

from conftest import TINY_SYSTEM, lane, phasebench_cli

SWEEP = {"k": {"low": 0.0, "high": 3.0, "ood_low": 3.0, "ood_high": 4.0}}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    settings = {**TINY_SYSTEM, "n_trajectories": 24, "sweep": SWEEP}
    ds = simulate(build_system("coupled_oscillator"), settings)
    path = tmp_path_factory.mktemp("sweep") / "swept.zarr"
    write_store(ds, path)
    return ds, path


def test_swept_parameter_is_a_coordinate_and_held_out_values_are_test_ood(swept):
    ds, _ = swept
    k = ds["param_k"].values
    assert k.shape == (ds.sizes["trajectory"],) and ds.attrs["validation"] == "passed"
    in_distribution = (ds["split"] != "test_ood").values
    assert k[in_distribution].min() >= 0 and k[in_distribution].max() <= 3
    assert np.ptp(k[in_distribution]) > 1  # really varies over the range
    ood = trajectory_parameters(ds, "test_ood")["k"]
    assert len(ood) == 6 and ood.min() >= 3 and ood.max() <= 4
    # The reference (DOP853) re-integration with each trajectory's own k agrees with the data.
    assert ds.attrs["reference_state_error_max"] < 1e-3


def test_each_trajectory_follows_its_own_parameters(swept):
    ds, _ = swept
    system = build_system("coupled_oscillator")
    states = ds["state"].values.astype(np.float64)
    own = system.for_trajectories(trajectory_parameters(ds), trailing=1).invariants(states)
    common = system.invariants(states)  # k = 1 for every trajectory: the wrong Hamiltonian
    assert relative_invariant_errors(own)["energy"].max() < ds.attrs["invariant_tolerance"]
    assert relative_invariant_errors(common)["energy"].max() > 1e-2
    # Trajectory 0 is the solution for its own k, not for a neighbour's.
    x0, steps, dt = states[:1, 0], ds.sizes["time"] - 1, float(ds.attrs["dt"])
    for k, close in ((ds["param_k"].values[0], True), (ds["param_k"].values[0] + 0.5, False)):
        field = system.for_trajectories({"k": np.array([k])}).vector_field
        exact = INTEGRATORS["reference"](field, x0, dt, steps)
        assert (np.abs(exact - states[:1]).max() < 1e-3) == close


def test_numerical_rows_integrate_each_trajectory_with_its_parameters(swept):
    _, path = swept
    _, scalars = evaluate_integrator(path, "rk4", {"horizons": [5.0], "valid_threshold": 0.05})
    # RK4 at one step per sample is accurate only with the right k for every trajectory.
    assert scalars["final_error"] < 0.05 and scalars["ood_final_error"] < 0.05


def test_data_show_and_check_know_the_sweep(swept, tmp_path):
    ds, path = swept
    shown = phasebench_cli("data", "show", str(path))
    assert "swept k" in shown.stdout and "test_ood [3" in shown.stdout
    assert phasebench_cli("data", "check", str(path)).returncode == 0
    # Parameters that no longer belong to their trajectories are caught.
    shuffled = ds.copy()
    shuffled["param_k"] = ("trajectory", ds["param_k"].values[::-1].copy())
    write_store(shuffled, tmp_path / "shuffled.zarr")
    checked = phasebench_cli("data", "check", str(tmp_path / "shuffled.zarr"))
    assert checked.returncode == 1 and "relative energy error" in checked.stdout


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"kk": {"low": 0, "high": 1}}, "systems[0].sweep: unknown parameter 'kk' of system"),
        ({"k": {"low": 2, "high": 1}}, "sweep.k: low must be below high"),
        ({"k": {"low": 0, "high": 3, "ood_low": 3}}, "give both ood_low and ood_high"),
        (
            {"k": {"low": 0, "high": 3, "ood_low": 2, "ood_high": 4}},
            "the held-out range [2, 4] overlaps the training range [0, 3]",
        ),
        ({"k": {"low": 0}}, "systems[0].sweep.k needs the key 'high'"),
    ],
)
def test_bad_sweeps_are_one_sentence(sweep, message):
    with pytest.raises(ConfigError) as err:
        resolve({"systems": [{"name": "coupled_oscillator", "sweep": sweep}]}, "x.yaml")
    assert message in str(err.value) and str(err.value).startswith("x.yaml: ")


def test_sweep_reaches_the_simulate_job():
    plan = resolve({"systems": [{"name": "coupled_oscillator", "sweep": SWEEP}]})
    assert simulate_settings(plan["systems"]["coupled_oscillator"])["sweep"] == SWEEP


SYSTEMS = registry.scan("systems")
PARAMETERS = [
    (name, key)
    for name, info in sorted(SYSTEMS.items())
    for key in info.attrs.get("parameters", {})
]


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_the_scan_sees_every_parameter_of_every_system(name):
    # Config checks params and sweeps against the scan: a parameter it misses cannot be set.
    cls = registry.plugin_class("systems", name)
    assert SYSTEMS[name].attrs.get("parameters", {}) == cls.parameters
    assert set(cls.structural) <= set(cls.parameters)


@pytest.mark.parametrize(("name", "key"), [lane(name, key) for name, key in PARAMETERS])
def test_every_parameter_sweeps_or_is_refused_at_validation(name, key):
    info = SYSTEMS[name]
    default = info.attrs["parameters"][key]
    low, high = (0.8 * default, 1.2 * default) if default else (0.0, 0.2)
    entry = {
        "name": name,
        "n_trajectories": 8,
        "n_steps": 12,
        "initial_conditions": "sampled",
        "sweep": {key: {"low": low, "high": high}},
        "reference_trajectories": 2,  # two values of the parameter; more cost Lennard-Jones minutes
    }
    if key in info.attrs.get("structural", ()):
        with pytest.raises(ConfigError, match=rf"sweep\.{key}: parameter '{key}' .* cannot be"):
            resolve({"systems": [entry]}, "x.yaml")
        return
    settings = simulate_settings(resolve({"systems": [entry]})["systems"][name])
    ds = simulate(build_system(name, settings["params"]), settings)
    assert ds.attrs["validation"] == "passed"
    assert np.ptp(ds[f"param_{key}"].values) > 0.2 * (high - low)
    # The reference re-integration, with each trajectory's own value, agrees with the data to
    # the integrator's accuracy (with values 20% off: 3e-2 to 1 on these trajectories).
    assert ds.attrs["reference_state_error_max"] < 1e-2


def kepler_eccentricity(states: np.ndarray, m1, m2, grav) -> np.ndarray:
    """e of the relative orbit from energy and angular momentum (centre of mass at rest):
    e² = 1 + 2 E L² / (μ k²), μ = m1 m2 / (m1 + m2), k = G m1 m2."""
    energy = (
        build_system("kepler").for_trajectories({"m1": m1, "m2": m2, "G": grav}).hamiltonian(states)
    )
    x = states
    angular = sum(x[..., i] * x[..., i + 5] - x[..., i + 1] * x[..., i + 4] for i in (0, 2))
    mu, k = m1 * m2 / (m1 + m2), grav * m1 * m2
    return np.sqrt(np.maximum(0.0, 1 + 2 * energy * angular**2 / (mu * k**2)))


@pytest.mark.parametrize("held_out", [False, True])
def test_swept_kepler_orbits_are_drawn_with_each_trajectorys_own_parameters(held_out):
    # Before: every orbit was set up for G = m1 = m2 = 1, so a trajectory with G = 0.6 started
    # on an orbit of e up to 1.5 (unbound), one with G = 1.4 far below e = 0.
    sweep = {"G": {"low": 0.6, "high": 1.4}, "m1": {"low": 0.5, "high": 2.0}}
    if held_out:
        sweep["G"].update(ood_low=1.5, ood_high=1.8)
    entry = {
        "name": "kepler", "n_trajectories": 24, "n_steps": 4, "ood_fraction": 0.25,
        "initial_conditions": "sampled", "sweep": sweep,
    }  # fmt: skip
    plan = resolve({"systems": [entry], "models": ["resnet"]})  # one-step model: short data
    settings = simulate_settings(plan["systems"]["kepler"])
    ds = simulate(build_system("kepler"), settings)
    params = {k: ds[f"param_{k}"].values for k in ("G", "m1")}
    e = kepler_eccentricity(
        ds["state"].values[:, 0].astype(np.float64), params["m1"], 1.0, params["G"]
    )
    ood = (ds["split"] == "test_ood").values
    assert ood.sum() == 6
    assert e[~ood].max() <= 0.5 + 1e-5 and np.ptp(e[~ood]) > 0.1
    # Held-out parameters: training's orbits (e ≤ 0.5); else the OOD orbits, e in [0.5, 0.7].
    low, high = (0.0, 0.5) if held_out else (0.5, 0.7)
    assert low - 1e-5 <= e[ood].min() and e[ood].max() <= high + 1e-5

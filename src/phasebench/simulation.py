"""Simulating a system's trajectories into a Dataset: initial states (sampled, reference or
out of distribution), parameter sweeps, integration, validation and the store's variables."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from phasebench.data import FORMAT, UNITS, one_trajectory
from phasebench.errors import DataError
from phasebench.integrators import INTEGRATORS, whole_substeps
from phasebench.provenance import config_hash, provenance
from phasebench.registry import repo_root
from phasebench.splits import split_sizes
from phasebench.system import System
from phasebench.validation import validate

CHUNK_BYTES = 4 * 2**20  # whole trajectories per chunk, about 4 MB

# What the simulate job needs from the plan (`config.simulate_settings`), which fills every
# default; this module adds none of its own.
SETTINGS = (
    "name", "params", "sweep", "n_trajectories", "n_steps", "dt", "substeps", "integrator",
    "start_time", "burn_in", "train_horizon", "initial_conditions", "ood_fraction",
    "invariant_tolerance", "reference_trajectories", "dtype", "seed", "splits",
)  # fmt: skip


def _described(long_name: str) -> dict:
    return {"long_name": long_name, "units": UNITS}


def _state_attrs(system: System) -> dict:
    kind = "canonical (q, p)" if system.canonical else "non-canonical"
    return _described(f"{kind} state of {system.name}, by dof")


_TIME_ATTRS = {
    "long_name": "time since the initial state",
    "units": f"time {UNITS}",
    "comment": "saved step k is at start_time + k·dt (attributes); the store holds k >= burn_in",
}


def _advanced(field, x0: np.ndarray, settings: dict) -> np.ndarray:
    """The initial states integrated for start_time, in the run's integrator and its substep
    size dt/substeps (the saved steps' clock starts there)."""
    dt, substeps, start_time = settings["dt"], settings["substeps"], settings["start_time"]
    count = whole_substeps(start_time, dt, substeps)
    if count is None:
        raise DataError(
            f"start_time {start_time:g} is not a whole number of integrator substeps "
            f"(dt/substeps = {dt / substeps:g}); give a multiple of it"
        )
    if count == 0:
        return x0
    return INTEGRATORS[settings["integrator"]](field, x0, count * dt / substeps, 1, count)[:, 1]


def _split_labels(rng: np.random.Generator, n: int, n_ood: int, fractions: dict) -> np.ndarray:
    """Train/val/test by trajectory, in shuffled order, every split at least one; then test_ood."""
    sizes = split_sizes(n, fractions)
    labels = [split for split, size in sizes.items() for _ in range(size)]
    labels = [labels[i] for i in rng.permutation(n)] + ["test_ood"] * n_ood
    # Object-dtype strings: the variable-length string type that Zarr v3 specifies.
    return np.array(labels, dtype=object)


def resolve_settings(system: System, settings: dict) -> dict:
    """The plan's settings, with n_trajectories of a reference set taken from its size."""
    missing = [key for key in SETTINGS if key not in settings]
    if missing:
        raise DataError(
            f"simulate settings of {system.name} lack {', '.join(missing)}; pass the plan's "
            "(phasebench.config.simulate_settings of a resolved system)"
        )
    settings = dict(settings)
    if settings["initial_conditions"] == "reference":
        reference = system.reference_initial_states()
        if reference is None:
            raise DataError(f"system '{system.name}' has no reference initial states")
        if settings["n_trajectories"] not in (None, len(reference)):
            raise DataError(
                f"n_trajectories={settings['n_trajectories']} conflicts with the "
                f"{len(reference)} reference initial states of {system.name}; set "
                "initial_conditions: sampled to draw a different number"
            )
        settings["n_trajectories"] = len(reference)
    return settings


def _features(system: System, rng: np.random.Generator, n: int) -> np.ndarray | None:
    """Particle features `(n, particles, features)` of a particle system, else None."""
    if not system.particle_system:
        return None
    return np.asarray(system.sample_features(rng, n), np.float64)


def _initial_states(system: System, settings: dict, seeds: np.ndarray, swept: dict):
    """Initial states and particle features (None for other systems). One seed per trajectory,
    so that any trajectory can be regenerated on its own; each state is drawn by the system
    with the trajectory's own parameters and features (Kepler's orbits depend on G and the
    masses, a particle system may use its masses)."""
    if settings["initial_conditions"] == "reference":
        return np.asarray(system.reference_initial_states(), dtype=np.float64), None
    states, features = [], []
    for i, s in enumerate(seeds):
        drawn = _features(system, np.random.default_rng([s, 3]), 1)
        states.append(
            one_trajectory(system, swept, i, drawn).sample_initial(np.random.default_rng(s), 1)
        )
        features.append(drawn)
    return np.concatenate(states), None if features[0] is None else np.concatenate(features)


def _ood_states(system: System, n: int, seed: int, features) -> np.ndarray:
    bound = system.with_features(features)
    states = bound.sample_ood(np.random.default_rng([seed, 1]), n) if n else None
    return np.empty((0, system.dim)) if states is None else np.asarray(states, np.float64)


def _swept_ood_states(
    system: System, swept: dict, first: int, n: int, seed: int, held_out: bool, features
):
    """The n out-of-distribution states of a sweep, each drawn by the system with its own
    parameters (and features): in-distribution states where the parameters are held out, else
    `sample_ood`."""
    rng = np.random.default_rng([seed, 1])
    sampler = "sample_initial" if held_out else "sample_ood"
    states = [
        getattr(
            one_trajectory(
                system, swept, first + i, None if features is None else features[i : i + 1]
            ),
            sampler,
        )(rng, 1)
        for i in range(n)
    ]
    return (
        np.concatenate([np.asarray(x, np.float64) for x in states])
        if n
        else np.empty((0, system.dim))
    )


def _draw_sweep(sweep: dict, n: int, n_ood: int, seed: int) -> dict[str, np.ndarray]:
    """Per-trajectory parameter values: uniform on [low, high] for the n in-distribution
    trajectories; for the n_ood others on the held-out [ood_low, ood_high] where given."""
    rng = np.random.default_rng([seed, 2])
    values = {}
    for name, bounds in sweep.items():
        inside = rng.uniform(bounds["low"], bounds["high"], n)
        low, high = bounds.get("ood_low", bounds["low"]), bounds.get("ood_high", bounds["high"])
        values[name] = np.concatenate([inside, rng.uniform(low, high, n_ood)])
    return values


def holds_out_parameters(sweep: dict) -> bool:
    return any("ood_low" in bounds for bounds in sweep.values())


def simulate(system: System, settings: dict) -> xr.Dataset:
    """Integrate all initial states at once into a Dataset, and validate it."""
    settings = resolve_settings(system, settings)
    n, n_steps, substeps = settings["n_trajectories"], settings["n_steps"], settings["substeps"]
    dt, integrator = settings["dt"], settings["integrator"]
    seeds = np.random.SeedSequence(settings["seed"]).generate_state(n)
    n_ood, sweep = round(settings["ood_fraction"] * n), settings["sweep"]
    ood_features = _features(system, np.random.default_rng([settings["seed"], 4]), n_ood)
    held_out = holds_out_parameters(sweep)
    # Out of distribution by its parameters (held out): the usual initial states with unseen
    # parameters; else by its states, where the system has such states.
    ood = None if held_out else _ood_states(system, n_ood, settings["seed"], ood_features)
    n_ood = n_ood if held_out else len(ood)
    swept = _draw_sweep(sweep, n, n_ood, settings["seed"])
    if sweep:  # drawn again, each by the system with its trajectory's own parameters
        ood = _swept_ood_states(system, swept, n, n_ood, settings["seed"], held_out, ood_features)
    x0, features = _initial_states(system, settings, seeds, swept)
    x0 = np.concatenate([x0, ood])
    if features is not None:
        features = np.concatenate([features, ood_features[:n_ood]])
    field = system.for_trajectories(swept).with_features(features).vector_field
    # start_time and the burned-in steps are integrated, not stored: the store begins at
    # t = start_time + burn_in·dt.
    start_time, burn_in = settings["start_time"], settings["burn_in"]
    started = _advanced(field, x0, settings)
    states = INTEGRATORS[integrator](field, started, dt, n_steps, substeps)[:, burn_in:]
    timed = system.for_trajectories(swept, trailing=1).with_features(features, trailing=1)
    invariants = timed.invariants(states)
    scales = timed.invariant_scales(states[:, :1])
    outcome = validate(system, states, invariants, settings, swept, features, scales)
    energy = invariants.pop("energy")
    labels = _split_labels(np.random.default_rng(seeds[0]), n, len(ood), settings["splits"])
    time = start_time + np.arange(burn_in, n_steps + 1) * dt
    traj_bytes = len(time) * system.dim * np.dtype(settings["dtype"]).itemsize
    dims = ("trajectory", "time")
    # OOD trajectories carry seed -1: they come from one generator, not per-trajectory seeds.
    all_seeds = np.concatenate([seeds.astype(np.int64), -np.ones(len(ood), np.int64)])
    ds = xr.Dataset(
        {
            "state": (dims + ("dof",), states.astype(settings["dtype"]), _state_attrs(system)),
            "energy": (dims, energy, _described("energy H(x)")),
            **{
                name: (dims, values, _described(f"invariant {name}"))
                for name, values in invariants.items()
            },
            "split": ("trajectory", labels, {"long_name": "split: train, val, test or test_ood"}),
            "seed": ("trajectory", all_seeds, {"long_name": "seed of the initial state (-1: ood)"}),
            **{
                f"param_{name}": ("trajectory", values, _described(f"system parameter {name}"))
                for name, values in swept.items()
            },
            **_particle_variables(system, features),
        },
        coords={
            "trajectory": np.arange(len(x0)),
            "time": ("time", time, _TIME_ATTRS),
            "dof": ("dof", np.array(system.state_names, dtype=object), {"long_name": "state"}),
        },
        attrs={
            "format": FORMAT,
            "system": system.name,
            "parameters": json.dumps(system.params),
            "swept_parameters": json.dumps(sweep),
            "canonical": int(system.canonical),
            "invariants": json.dumps(["energy", *invariants]),
            "integrator": integrator,
            "dt": dt,
            "substeps": substeps,
            "n_steps": n_steps,
            "initial_conditions": settings["initial_conditions"],
            # Attributes cannot be None in Zarr: 0 means "train on the whole trajectories".
            "train_horizon": settings["train_horizon"] or 0.0,
            "start_time": start_time,
            "burn_in": burn_in,
            "particles": system.particles,
            "space_dim": system.space_dim,
            # A periodic particle system's box sides ([] otherwise): models need minimum images.
            "box": list(getattr(system, "box", ())),
            **outcome,
            **provenance(repo_root(), config_hash(settings)),
        },
    )
    ds["state"].encoding["chunks"] = (max(1, CHUNK_BYTES // traj_bytes), len(time), system.dim)
    if features is not None:
        names = np.array(system.feature_names, dtype=object)
        ds = ds.assign_coords(feature=("feature", names), particle=np.arange(system.particles))
    return ds


def _particle_variables(system: System, features) -> dict:
    """`particle_features (trajectory, particle, feature)` of a particle system."""
    if features is None:
        return {}
    long_name = f"fixed per-particle features ({', '.join(system.feature_names)})"
    dims = ("trajectory", "particle", "feature")
    return {"particle_features": (dims, features, _described(long_name))}

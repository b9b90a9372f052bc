"""Simulated trajectories as xarray Datasets in Zarr stores (`results/data/{system}.zarr`)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from phasebench.errors import DataError
from phasebench.integrators import INTEGRATORS
from phasebench.provenance import config_hash, provenance
from phasebench.registry import repo_root
from phasebench.splits import split_sizes
from phasebench.system import System

FORMAT = "phasebench-trajectories/1"
SPLITS = ("train", "val", "test", "test_ood")
CHUNK_BYTES = 4 * 2**20  # whole trajectories per chunk, about 4 MB
# Systems are written in their own (nondimensional) units; the stores say so.
UNITS = "units of the system"


def _described(long_name: str) -> dict:
    return {"long_name": long_name, "units": UNITS}


def _state_attrs(system: System) -> dict:
    kind = "canonical (q, p)" if system.canonical else "non-canonical"
    return _described(f"{kind} state of {system.name}, by dof")


def _split_labels(rng: np.random.Generator, n: int, n_ood: int, fractions: dict) -> np.ndarray:
    """Train/val/test by trajectory, in shuffled order, every split at least one; then test_ood."""
    sizes = split_sizes(n, fractions)
    labels = [split for split, size in sizes.items() for _ in range(size)]
    labels = [labels[i] for i in rng.permutation(n)] + ["test_ood"] * n_ood
    # Object-dtype strings: the variable-length string type that Zarr v3 specifies.
    return np.array(labels, dtype=object)


# What the simulate job needs from the plan (`config.simulate_settings`), which fills every
# default; this module adds none of its own.
SETTINGS = (
    "name", "params", "sweep", "n_trajectories", "n_steps", "dt", "substeps", "integrator",
    "burn_in", "train_horizon", "initial_conditions", "ood_fraction", "invariant_tolerance",
    "reference_trajectories", "dtype", "seed", "splits",
)  # fmt: skip


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


def _own(system: System, swept: dict[str, np.ndarray], i: int, features=None) -> System:
    """The system with trajectory i's swept parameters and particle features (`features` holds
    that trajectory's alone, or None)."""
    own = system.for_trajectories({name: values[i : i + 1] for name, values in swept.items()})
    return own.with_features(features)


def _row(features: np.ndarray | None, i: int) -> np.ndarray | None:
    """Trajectory i's particle features, kept two-dimensional, or None."""
    return None if features is None else features[i : i + 1]


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
        states.append(_own(system, swept, i, drawn).sample_initial(np.random.default_rng(s), 1))
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
            _own(system, swept, first + i, None if features is None else features[i : i + 1]),
            sampler,
        )(rng, 1)
        for i in range(n)
    ]
    return (
        np.concatenate([np.asarray(x, np.float64) for x in states])
        if n
        else np.empty((0, system.dim))
    )


def bind_trajectories(system: System, ds: xr.Dataset, split: str | None = None, trailing=0):
    """`system` with the swept parameters and particle features of every trajectory of `ds`
    (of one split), shaped for states `(n, D)` (trailing = 0) or `(n, T, D)` (trailing = 1)."""
    swept = system.for_trajectories(trajectory_parameters(ds, split), trailing)
    return swept.with_features(particle_features(ds, split), trailing)


def particle_features(ds: xr.Dataset, split: str | None = None) -> np.ndarray | None:
    """`(n, particles, features)` of every trajectory (of one split); None if not particles."""
    if "particle_features" not in ds:
        return None
    mask = slice(None) if split is None else (ds["split"] == split).values
    return ds["particle_features"].values[mask].astype(np.float64)


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


def trajectory_parameters(ds: xr.Dataset, split: str | None = None) -> dict[str, np.ndarray]:
    """The swept parameters' values of every trajectory (of one split), by parameter name."""
    swept = json.loads(ds.attrs.get("swept_parameters", "{}"))
    mask = slice(None) if split is None else (ds["split"] == split).values
    return {name: ds[f"param_{name}"].values[mask] for name in swept}


def relative_invariant_errors(
    invariants: dict[str, np.ndarray], scales: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Per invariant `(n, T)`, |I(x_t) − I(x_0)| / s with s = |I(x_0)| or the system's
    `invariant_scales` at x_0 (`(n, 1)` each); absolute where s ≈ 0."""
    errors = {}
    for name, values in invariants.items():
        size = np.abs(values[:, :1]) if scales is None else scales[name]
        scale = np.where(size > 1e-12, size, 1.0)
        errors[name] = np.abs(values - values[:, :1]) / scale
    return errors


def validate(
    system: System,
    states: np.ndarray,
    invariants: dict,
    settings: dict,
    swept=None,
    features=None,
    scales=None,
) -> dict:
    """Check freshly integrated data; the outcome goes into the store's attributes. `swept`:
    per-trajectory parameter values of a sweep; `features`: particle features; `scales`: the
    system's invariant scales at t = 0."""
    swept = swept or {}
    integrator, dt = settings["integrator"], settings["dt"]
    if not np.isfinite(states).all():
        raise DataError(
            f"simulating {system.name} with {integrator} at dt={dt} gave non-finite states; "
            "lower dt or raise substeps"
        )
    errors = {k: float(v.max()) for k, v in relative_invariant_errors(invariants, scales).items()}
    worst = max(errors, key=errors.get)
    if errors[worst] > settings["invariant_tolerance"]:
        raise DataError(
            f"simulating {system.name} with {integrator} at dt={dt}, substeps="
            f"{settings['substeps']}: relative {worst} error {errors[worst]:.2e} exceeds "
            f"invariant_tolerance {settings['invariant_tolerance']:.0e}; raise substeps or "
            "choose a higher-order integrator"
        )
    x0, energies = states[:, 0], invariants["energy"][:, 0]
    if settings["initial_conditions"] == "sampled" and len(x0) > 1 and np.ptp(energies) == 0:
        raise DataError(f"the sampled initial states of {system.name} do not vary")
    for name, values in swept.items():
        if len(values) > 1 and np.ptp(values) == 0:
            raise DataError(f"the swept parameter {name} of {system.name} does not vary")
    outcome = {f"max_rel_{k}_error": v for k, v in errors.items()}
    n_ref = min(settings["reference_trajectories"], len(x0))
    if n_ref:
        # One at a time: the reference integrator calls the field with one state.
        exact = np.concatenate([
            INTEGRATORS["reference"](
                _own(system, swept, i, _row(features, i)).vector_field,
                x0[i : i + 1], dt, states.shape[1] - 1,
            )
            for i in range(n_ref)
        ])  # fmt: skip
        gap = np.linalg.norm(states[:n_ref] - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
        outcome["reference_state_error_first_step"] = float(gap[:, 1].max())
        outcome["reference_state_error_max"] = float(gap.max())
    outcome["invariant_tolerance"] = settings["invariant_tolerance"]
    outcome["validation"] = "passed"
    return outcome


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
    # The burned-in steps are integrated, not stored: the store begins at t = burn_in·dt.
    burn_in = settings["burn_in"]
    states = INTEGRATORS[integrator](field, x0, dt, n_steps, substeps)[:, burn_in:]
    timed = system.for_trajectories(swept, trailing=1).with_features(features, trailing=1)
    invariants = timed.invariants(states)
    scales = timed.invariant_scales(states[:, :1])
    outcome = validate(system, states, invariants, settings, swept, features, scales)
    energy = invariants.pop("energy")
    labels = _split_labels(np.random.default_rng(seeds[0]), n, len(ood), settings["splits"])
    time = np.arange(burn_in, n_steps + 1) * dt
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
            "time": ("time", time, {"long_name": "time", "units": f"time {UNITS}"}),
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
            "burn_in": burn_in,
            "particles": system.particles,
            "space_dim": system.space_dim,
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


def write_store(ds: xr.Dataset, path: Path) -> None:
    """Write next to `path` and rename, so that a reader never sees a half-written store.

    With consolidated metadata, so that a plain `xr.open_zarr(path)` opens it without a warning
    (and without listing the folder, where Snakemake leaves a `.snakemake_timestamp`).
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with warnings.catch_warnings():
        # Zarr notes that consolidated metadata is not in the v3 specification yet.
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        ds.to_zarr(partial, mode="w", zarr_format=3, consolidated=True)
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)


# Attributes that the jobs and `data check` read from every trajectory store.
REQUIRED_ATTRS = ("system", "parameters", "canonical", "invariants", "integrator", "dt", "substeps")
# Those of them (and others) that hold JSON.
JSON_ATTRS = ("parameters", "invariants", "swept_parameters")


def rebuild_hint(path) -> str:
    """The way back from a damaged store. Snakemake cannot see damage inside a store that
    exists, so it must be removed first (`phasebench data check --fix` does that)."""
    return f"remove it (rm -r {path}) and run snakemake again to regenerate it"


def _damaged(path: Path, what: str) -> DataError:
    return DataError(f"{path}: {what}; {rebuild_hint(path)}")


def _load_checked(ds: xr.Dataset, path: Path, names=None) -> xr.Dataset:
    """Every variable (or those `names`) read into memory now, so that a corrupt chunk is
    named here and not met as a codec's traceback in the middle of a job (the stores are a few
    MB)."""
    for name, variable in ds.variables.items():
        if names is not None and name not in names:
            continue
        try:
            variable.load()
        except Exception as err:  # codecs and stores raise many types for a corrupt chunk
            what = f"damaged store, a chunk of '{name}' cannot be decoded"
            raise _damaged(path, f"{what} ({type(err).__name__}: {err})") from None
    return ds


def open_store(path: Path, kind: str = FORMAT, required=("state", "split", "energy")) -> xr.Dataset:
    """Open a phasebench store, or say in one sentence why it cannot be used. A trajectory store
    is checked whole (attributes and every chunk) and returned in memory."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data store; the pipeline writes it (snakemake {path})")
    try:
        with warnings.catch_warnings():
            # Snakemake marks directory outputs with a `.snakemake_timestamp` file inside.
            warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
            # The folder, not the consolidated copy: a lost variable must show as lost.
            ds = xr.open_zarr(path, consolidated=False)
    except Exception as err:  # zarr raises many types for a broken store
        raise _damaged(path, f"not a readable Zarr store ({type(err).__name__}: {err})") from None
    if ds.attrs.get("format") != kind:
        raise DataError(f"{path}: not a {kind} store (its 'format' attribute is missing or other)")
    missing = [name for name in required if name not in ds]
    if missing:
        raise _damaged(path, f"truncated store, missing variable(s) {', '.join(missing)}")
    if kind != FORMAT:  # results read a variable or two of many stores: those are checked
        return _load_checked(ds, path, {*required, "split"})
    lost = [name for name in REQUIRED_ATTRS if name not in ds.attrs]
    if lost:
        names = ", ".join(f"'{name}'" for name in lost)
        raise _damaged(path, f"damaged store, missing attribute(s) {names}")
    for name in JSON_ATTRS:
        try:
            json.loads(ds.attrs.get(name, "{}"))
        except (TypeError, ValueError):
            raise _damaged(path, f"damaged store, attribute '{name}' is not JSON") from None
    return _load_checked(ds, path)


def load_split(ds: xr.Dataset, split: str, source: str = "store") -> np.ndarray:
    """All trajectories of one split as an in-memory array `(n, time, dof)`."""
    mask = (ds["split"] == split).values
    if not mask.any():
        raise DataError(f"{source}: has no trajectories in split '{split}'")
    states = ds["state"].values[mask]
    if not np.isfinite(states).all():
        raise DataError(
            f"{source}: split '{split}' holds non-finite states (corrupt data); "
            + rebuild_hint(source)
        )
    return states

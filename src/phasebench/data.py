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
from phasebench.system import System

FORMAT = "phasebench-trajectories/1"
SPLITS = ("train", "val", "test", "test_ood")
CHUNK_BYTES = 4 * 2**20  # whole trajectories per chunk, about 4 MB


def _split_labels(rng: np.random.Generator, n: int, fractions: dict) -> np.ndarray:
    """Train/val/test by trajectory, in shuffled order; every split gets at least one."""
    n_val = max(1, round(fractions["val"] * n))
    n_test = max(1, round(fractions["test"] * n))
    labels = ["train"] * (n - n_val - n_test) + ["val"] * n_val + ["test"] * n_test
    # Object-dtype strings: the variable-length string type that Zarr v3 specifies.
    labels = np.array(labels, dtype=object)
    return labels[rng.permutation(n)]


def simulate(system: System, settings: dict) -> xr.Dataset:
    """Integrate `n_trajectories` sampled initial states, all at once, into a Dataset."""
    n, n_steps, substeps = settings["n_trajectories"], settings["n_steps"], settings["substeps"]
    dt = settings["dt"] or system.default_dt
    integrator = settings["integrator"] or system.default_integrator
    # One seed per trajectory, so that any trajectory can be regenerated on its own.
    seeds = np.random.SeedSequence(settings["seed"]).generate_state(n)
    x0 = np.concatenate([system.sample_initial(np.random.default_rng(s), 1) for s in seeds])
    states = INTEGRATORS[integrator](system.vector_field, x0, dt, n_steps, substeps)
    if not np.isfinite(states).all():
        raise DataError(
            f"simulating {system.name} with {integrator} at dt={dt} gave non-finite states; "
            "lower dt or raise substeps"
        )
    splits = settings["splits"]
    invariants = system.invariants(states)
    energy = invariants.pop("energy")
    rel_energy_error = np.abs(energy - energy[:, :1]) / np.maximum(np.abs(energy[:, :1]), 1e-12)
    time = np.arange(n_steps + 1) * dt
    traj_bytes = (n_steps + 1) * system.dim * np.dtype(settings["dtype"]).itemsize
    dims = ("trajectory", "time")
    ds = xr.Dataset(
        {
            "state": (dims + ("dof",), states.astype(settings["dtype"])),
            "energy": (dims, energy),
            **{name: (dims, values) for name, values in invariants.items()},
            "split": ("trajectory", _split_labels(np.random.default_rng(seeds[0]), n, splits)),
            "seed": ("trajectory", seeds.astype(np.int64)),
        },
        coords={
            "trajectory": np.arange(n),
            "time": ("time", time, {"units": "time units of the system"}),
            "dof": np.array(system.state_names, dtype=object),
        },
        attrs={
            "format": FORMAT,
            "system": system.name,
            "parameters": json.dumps(system.params),
            "canonical": int(system.canonical),
            "invariants": json.dumps(["energy", *invariants]),
            "integrator": integrator,
            "dt": dt,
            "substeps": substeps,
            "n_steps": n_steps,
            "max_rel_energy_error": float(rel_energy_error.max()),
            **provenance(repo_root(), config_hash(settings)),
        },
    )
    ds["state"].encoding["chunks"] = (max(1, CHUNK_BYTES // traj_bytes), n_steps + 1, system.dim)
    return ds


def write_store(ds: xr.Dataset, path: Path) -> None:
    """Write next to `path` and rename, so that a reader never sees a half-written store."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    ds.to_zarr(partial, mode="w", zarr_format=3, consolidated=False)
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)


def open_store(path: Path, kind: str = FORMAT, required=("state", "split", "energy")) -> xr.Dataset:
    """Open a phasebench store, or say in one sentence why it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data store; the pipeline writes it (snakemake {path})")
    try:
        with warnings.catch_warnings():
            # Snakemake marks directory outputs with a `.snakemake_timestamp` file inside.
            warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
            ds = xr.open_zarr(path, consolidated=False)
    except Exception as err:  # zarr raises many types for a broken store
        raise DataError(
            f"{path}: not a readable Zarr store ({type(err).__name__}: {err})"
        ) from None
    if ds.attrs.get("format") != kind:
        raise DataError(f"{path}: not a {kind} store (its 'format' attribute is missing or other)")
    missing = [name for name in required if name not in ds]
    if missing:
        raise DataError(f"{path}: truncated store, missing variable(s) {', '.join(missing)}")
    return ds


def load_split(ds: xr.Dataset, split: str, source: str = "store") -> np.ndarray:
    """All trajectories of one split as an in-memory array `(n, time, dof)`."""
    mask = (ds["split"] == split).values
    if not mask.any():
        raise DataError(f"{source}: has no trajectories in split '{split}'")
    states = ds["state"].values[mask]
    if not np.isfinite(states).all():
        raise DataError(f"{source}: split '{split}' holds non-finite states (corrupt data)")
    return states

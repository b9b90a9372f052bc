"""Trajectory stores (`results/data/{system}.zarr`): writing, opening with checks, and reading
splits, swept parameters and particle features back. Simulation is `phasebench.simulation`."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from phasebench.errors import DataError
from phasebench.system import System

FORMAT = "phasebench-trajectories/1"
# The evaluation stores' format (phasebench.evaluation writes them): here, so that the reports
# can check it without importing torch.
EVALUATION_FORMAT = "phasebench-evaluation/1"

SPLITS = ("train", "val", "test", "test_ood")

# Systems are written in their own (nondimensional) units; the stores say so.
UNITS = "units of the system"

# Attributes that the jobs and `data check` read from every trajectory store.
REQUIRED_ATTRS = ("system", "parameters", "canonical", "invariants", "integrator", "dt", "substeps")

# Those of them (and others) that hold JSON.
JSON_ATTRS = ("parameters", "invariants", "swept_parameters")


def one_trajectory(system: System, swept: dict[str, np.ndarray], i: int, features=None) -> System:
    """The system with trajectory i's swept parameters and particle features (`features` holds
    that trajectory's alone, or None)."""
    own = system.for_trajectories({name: values[i : i + 1] for name, values in swept.items()})
    return own.with_features(features)


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


def trajectory_parameters(ds: xr.Dataset, split: str | None = None) -> dict[str, np.ndarray]:
    """The swept parameters' values of every trajectory (of one split), by parameter name."""
    swept = json.loads(ds.attrs.get("swept_parameters", "{}"))
    mask = slice(None) if split is None else (ds["split"] == split).values
    return {name: ds[f"param_{name}"].values[mask] for name in swept}


def write_store(ds: xr.Dataset, path: Path, groups: dict[str, xr.Dataset] | None = None) -> None:
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
        for name, group in (groups or {}).items():  # e.g. particle_ood's test_ood at another N
            group.to_zarr(partial, group=name, mode="w", zarr_format=3, consolidated=False)
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)


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

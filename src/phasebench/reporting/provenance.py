"""The reports' provenance: how the data they rank was made."""

from __future__ import annotations

import hashlib

import numpy as np
import xarray as xr


def data_provenance(ds: xr.Dataset) -> dict:
    """How a system's data was made: its settings' hash (`simulation_hash`, the store's
    `config_hash`), the code that made it, and a hash of its states (`state_hash`). The
    experiment's own hash (`experiment_hash`) covers the whole plan, not one system's data."""
    keys = (
        "system",
        "integrator",
        "dt",
        "substeps",
        "parameters",
        "phasebench_version",
        "git_commit",
        "created",
        "max_rel_energy_error",
    )
    info = {key: ds.attrs.get(key) for key in keys}
    info["simulation_hash"] = ds.attrs.get("config_hash")
    states = np.ascontiguousarray(ds["state"].values)
    info["state_hash"] = hashlib.sha256(states.tobytes()).hexdigest()[:16]
    return info

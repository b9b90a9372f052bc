"""The reports' inputs: evaluation scalars (JSON) and curves (Zarr) at the paths the rules
pass to the notebooks. Nothing here builds a path; the rules own them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import xarray as xr

from phasebench.data import EVALUATION_FORMAT, open_store, trajectory_parameters

# The label prefix of the system's own integrators' rows and curves (the reference rows).
NUMERICAL = "numerical: "


def load_scalars(paths) -> pd.DataFrame:
    """One row per evaluation scalars file (a run's seed, or a reference integrator)."""
    return pd.DataFrame([json.loads(Path(path).read_text()) for path in paths])


def curve_sources(evaluations, models, numerical=()) -> dict[str, list[str]]:
    """The curves stores to draw, by label: per model in `models` its seeds' (in the order
    given), then one per reference integrator. `evaluations`: the rule's entries
    {model, seed, scalars, curves}; `numerical`: {integrator, scalars, curves}."""
    sources = {m: [e["curves"] for e in evaluations if e["model"] == m] for m in models}
    for entry in numerical:
        sources[NUMERICAL + entry["integrator"]] = [entry["curves"]]
    return sources


def evaluated(path, variable: str) -> xr.Dataset | None:
    """An evaluation's curves, or None for a run whose training failed (it has none)."""
    ds = open_store(Path(path), kind=EVALUATION_FORMAT, required=())
    if ds.attrs.get("status") == "failed":
        return None
    return open_store(Path(path), kind=EVALUATION_FORMAT, required=(variable,))


def load_curves(
    sources: dict[str, list], variable: str, split: str = "test"
) -> dict[str, xr.DataArray]:
    """Per label of `sources` (`curve_sources`), `variable` averaged over the split's
    trajectories, with a `seed` dimension."""
    curves = {}
    for model, paths in sources.items():
        per_seed = []
        for path in paths:
            ds = evaluated(path, variable)
            if ds is None:
                continue
            chosen = ds[variable].where(ds["split"] == split, drop=True)
            if chosen.sizes["trajectory"] == 0:
                break
            per_seed.append(chosen.mean("trajectory").load())
        if per_seed:
            curves[model] = xr.concat(per_seed, dim=pd.Index(range(len(per_seed)), name="seed"))
    return curves


def error_by_parameter(data: xr.Dataset, evaluations, models) -> pd.DataFrame:
    """One row per (model, seed, test or test_ood trajectory) of the `evaluations` of `models`:
    the values of the data's swept parameters and the final rollout error. Empty when the data
    has no sweep."""
    params = trajectory_parameters(data)
    if not params:
        return pd.DataFrame()
    by_trajectory = pd.DataFrame(params, index=data["trajectory"].values)
    rows = []
    for entry in (e for e in evaluations if e["model"] in set(models)):
        ds = evaluated(entry["curves"], "rel_error")
        if ds is None:
            continue
        final = ds["rel_error"].isel(time=-1).values
        part = by_trajectory.loc[ds["trajectory"].values].assign(
            model=entry["model"], seed=entry["seed"], split=ds["split"].values, final_error=final
        )
        rows.append(part)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def swept_parameters(data: xr.Dataset) -> dict:
    """The data's parameter sweep: name -> {low, high[, ood_low, ood_high]}."""
    return json.loads(data.attrs.get("swept_parameters", "{}"))

"""Helpers for the report notebooks: read evaluation outputs, build tables, draw plots."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from phasebench.data import open_store
from phasebench.evaluation import FORMAT as EVAL_FORMAT

# Leaderboard columns: metric -> (heading, lower is better). Rollout horizons are added as found.
METRICS = {
    "one_step_error": "one-step error",
    "final_error": "final rollout error",
    "valid_time": "valid time",
    "final_energy_error": "final energy error",
    "energy_drift": "energy drift / time",
    "parameters": "parameters",
    "train_time_s": "train time [s]",
    "inference_ms_per_step": "inference [ms/step]",
}


def eval_path(results_dir, system: str, model: str, seed: int, ext: str) -> Path:
    return Path(results_dir) / "eval" / system / model / f"seed{seed}.{ext}"


def load_scalars(results_dir, system: str, models, seeds) -> pd.DataFrame:
    """One row per (model, seed) with every scalar metric of the evaluation."""
    rows = [
        json.loads(eval_path(results_dir, system, m, s, "json").read_text())
        for m in models
        for s in seeds
    ]
    return pd.DataFrame(rows)


def _horizon_columns(df: pd.DataFrame) -> list[str]:
    found = [c for c in df.columns if c.startswith("error_t")]
    return sorted(found, key=lambda c: float(c.removeprefix("error_t")))


def leaderboard(scalars: pd.DataFrame) -> pd.DataFrame:
    """Mean ± standard deviation over seeds, best final rollout error first."""
    metrics = ["one_step_error", *_horizon_columns(scalars), *list(METRICS)[1:]]
    grouped = scalars.groupby("model")[metrics]
    mean, std = grouped.mean(), grouped.std(ddof=0).fillna(0.0)
    order = mean.sort_values("final_error", na_position="last").index
    table = pd.DataFrame(index=order)
    table["seeds"] = scalars.groupby("model").size()[order]
    for metric in metrics:
        heading = METRICS.get(metric, f"error at t={metric.removeprefix('error_t')}")
        table[heading] = [_format(mean.at[m, metric], std.at[m, metric]) for m in order]
    table.index.name = "model"
    return table


def _format(mean: float, std: float) -> str:
    if not np.isfinite(mean):
        return "diverged"
    if abs(mean) >= 100 and float(mean).is_integer():
        return f"{mean:.0f}"
    text = f"{mean:.3g}"
    return text if std == 0 else f"{text} ± {std:.2g}"


def load_curves(results_dir, system: str, models, seeds, variable: str) -> dict[str, xr.DataArray]:
    """Per model, `variable` averaged over test trajectories, with a `seed` dimension."""
    curves = {}
    for model in models:
        per_seed = []
        for seed in seeds:
            path = eval_path(results_dir, system, model, seed, "zarr")
            ds = open_store(path, kind=EVAL_FORMAT, required=(variable,))
            per_seed.append(ds[variable].mean("trajectory").load())
        curves[model] = xr.concat(per_seed, dim=pd.Index(list(seeds), name="seed"))
    return curves


def plot_curves(curves: dict[str, xr.DataArray], ylabel: str, title: str):
    """Mean over seeds as a line and min–max over seeds as a band, log scale."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for model, curve in curves.items():
        curve = curve.where(curve > 0)  # exact given states (error 0) have no place on a log axis
        time = curve["time"].values
        line = ax.plot(time, curve.mean("seed"), label=model)[0]
        if curve.sizes["seed"] > 1:
            ax.fill_between(
                time, curve.min("seed"), curve.max("seed"), alpha=0.2, color=line.get_color()
            )
    ax.set(xlabel="time", ylabel=ylabel, title=title, yscale="log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def data_provenance(results_dir, system: str) -> dict:
    """The provenance attributes of a system's data store."""
    ds = open_store(Path(results_dir) / "data" / f"{system}.zarr")
    keys = (
        "system",
        "integrator",
        "dt",
        "substeps",
        "parameters",
        "phasebench_version",
        "git_commit",
        "config_hash",
        "created",
        "max_rel_energy_error",
    )
    return {key: ds.attrs.get(key) for key in keys}


def overview(results_dir, runs, seeds) -> pd.DataFrame:
    """Final rollout error, valid time and energy error of every (system, model), seed means."""
    rows = [
        json.loads(eval_path(results_dir, run["system"], run["model"], seed, "json").read_text())
        for run in runs
        for seed in seeds
    ]
    columns = {
        "final_error": "final rollout error",
        "valid_time": "valid time",
        "final_energy_error": "final energy error",
        "parameters": "parameters",
    }
    table = pd.DataFrame(rows).groupby(["system", "model"])[list(columns)].mean()
    table = table.sort_values(["system", "final_error"])
    table["parameters"] = table["parameters"].astype(int)
    for column in ("final_error", "valid_time", "final_energy_error"):
        table[column] = [_format(value, 0.0) for value in table[column]]
    return table.rename(columns=columns)

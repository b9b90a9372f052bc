"""The reports' plots: one colour and line style per model in every figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from phasebench.data import load_split
from phasebench.reporting.loading import NUMERICAL, evaluated
from phasebench.reporting.tables import pareto_front

PARETO_COSTS = {
    "train_time_s": "train time [s]",
    "inference_ms_per_step": "inference time [ms/step]",
    "parameters": "parameters",
}

# Model colours: tab20 without its two greys (grey dashed lines are the numerical methods);
# past 18 models the line style changes, so 72 models get distinct (colour, style) pairs.
PALETTE = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]

LINE_STYLES = ("-", "--", ":", "-.")

# Above this many models, the curves are drawn family by family, one panel each.
PANEL_THRESHOLD = 8


def model_styles(models) -> dict[str, dict]:
    """One colour and line style per model, from the sorted list of a report's models, so that
    a model looks the same in every plot of the report whichever models a plot shows."""
    return {
        model: {
            "color": PALETTE[i % len(PALETTE)],
            "linestyle": LINE_STYLES[i // len(PALETTE) % len(LINE_STYLES)],
        }
        for i, model in enumerate(sorted(set(models)))
    }


def plot_sensitivity(scalars: pd.DataFrame, base: str, variants: dict, select_by: str):
    """The validation metric against each swept setting: one dot per seed, the mean as a line."""
    keys = list(next(iter(variants.values())))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    rows = scalars[scalars["model"].isin(list(variants))]
    for ax, key in zip(axes.flat, keys, strict=True):
        values = [variants[m][key] for m in rows["model"]]
        y = pd.to_numeric(rows[select_by], errors="coerce").to_numpy(float)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        levels = sorted(set(values), key=str) if not numeric else sorted(set(values))
        x = np.array(values, float) if numeric else np.array([levels.index(v) for v in values])
        ax.scatter(x, y, alpha=0.6, label="one seed")
        means = [np.nanmean(y[x == (lv if numeric else i)]) for i, lv in enumerate(levels)]
        ax.plot(levels if numeric else range(len(levels)), means, "o-", color="black", label="mean")
        if numeric and min(levels) > 0 and max(levels) / min(levels) > 10:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(levels)), [str(v) for v in levels])
        ax.set(xlabel=key, ylabel=select_by.replace("_", " "), yscale="log", title=base)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_curves(
    curves: dict[str, xr.DataArray], ylabel: str, title: str, styles=None, families=None
):
    """Mean over seeds as a line and min–max over seeds as a band, log scale, each model in
    its `styles` entry (`model_styles`). Reference integrators are dashed grey, in every panel.
    With `families` (model -> family) and more than PANEL_THRESHOLD models, one panel per
    family, so that a family's lines can be told apart."""
    learned = [m for m in curves if not m.startswith(NUMERICAL)]
    styles = styles or model_styles(learned)
    groups = {"": learned}
    if families and len(learned) > PANEL_THRESHOLD:
        groups = {}
        for model in learned:
            groups.setdefault(families.get(model, "other"), []).append(model)
        groups = dict(sorted(groups.items()))
    columns = min(2, len(groups))
    rows = -(-len(groups) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(8 if columns == 1 else 12, 4.5 * rows), squeeze=False,
        sharex=True, sharey=True,
    )  # fmt: skip
    for ax, (family, models) in zip(axes.flat, groups.items(), strict=False):
        for model in [*models, *(m for m in curves if m.startswith(NUMERICAL))]:
            curve = curves[model]
            curve = curve.where(curve > 0)  # exact given states (error 0): not on a log axis
            time = curve["time"].values
            if model.startswith(NUMERICAL):
                ax.plot(time, curve.mean("seed"), "--", color="0.4", lw=1, label=model)
                continue
            ax.plot(time, curve.mean("seed"), label=model, **styles[model])
            if curve.sizes["seed"] > 1:
                band = (curve.min("seed"), curve.max("seed"))
                ax.fill_between(time, *band, alpha=0.2, color=styles[model]["color"])
        ax.set(xlabel="time", ylabel=ylabel, yscale="log", title=family or title)
        # Relative errors beyond 100 say only "diverged"; keep the scale for the models that work.
        ax.set_ylim(top=min(ax.get_ylim()[1], 1e2))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small", ncol=1 if len(groups) > 1 else 2)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    if len(groups) > 1:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_error_by_parameter(table: pd.DataFrame, name: str, sweep: dict, styles=None):
    """Final rollout error against one swept parameter, per model (seed means per trajectory);
    the held-out range, if any, shaded."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if "ood_low" in sweep:
        ax.axvspan(sweep["ood_low"], sweep["ood_high"], color="0.9", label="held out (test_ood)")
    mean = table.groupby(["model", name, "split"], sort=False)["final_error"].mean().reset_index()
    styles = styles or model_styles(mean["model"])
    for model, part in mean.groupby("model", sort=False):
        part = part.sort_values(name)
        ax.plot(part[name], part["final_error"], marker="o", ms=3, lw=1, label=model,
                **styles[model])  # fmt: skip
    ax.set(yscale="log", xlabel=name, ylabel="final relative state error")
    ax.set_title(f"Error against the swept parameter {name} (test and test_ood trajectories)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def _portrait_axes(dof_names: list[str], canonical: bool) -> tuple[int, int]:
    """Which two coordinates to plot: (q1, p1) on canonical systems, else the first two."""
    return (0, len(dof_names) // 2) if canonical else (0, 1)


def _plot_particles(ax, truth: np.ndarray, prediction: np.ndarray, particles: int, space_dim: int):
    """Each particle's path in the (x, y) plane: truth solid, prediction dashed, one colour each."""
    for i in range(particles):
        colour = f"C{i % 10}"
        x, y = i * space_dim, i * space_dim + 1
        ax.plot(truth[:, x], truth[:, y], color=colour, lw=1.5)
        ax.plot(prediction[:, x], prediction[:, y], color=colour, lw=1, ls="--")
        ax.plot(truth[0, x], truth[0, y], "o", color=colour, ms=3)
    ax.set(xlabel="x", ylabel="y")
    positions = truth[:, : particles * space_dim].reshape(len(truth), particles, space_dim)
    low, high = positions[..., :2].min((0, 1)), positions[..., :2].max((0, 1))
    margin = 0.25 * (high - low).max() + 1e-9
    # Keep the view on the true paths, so that a diverging prediction does not hide them.
    ax.set_xlim(low[0] - margin, high[0] + margin)
    ax.set_ylim(low[1] - margin, high[1] + margin)


def plot_phase_portraits(
    data: xr.Dataset, curves: dict, seed: int, trajectory: int = 0, styles=None
):
    """Truth against prediction for one test trajectory, one panel per model of `curves`
    (model -> its evaluation store of `seed`): (q1, p1) or the first two coordinates; on a
    particle system every particle's path in the (x, y) plane."""
    system, models = data.attrs["system"], list(curves)
    truth = load_split(data, "test")[trajectory]
    particles = int(data.attrs.get("particles", 0))
    names = [str(n) for n in data["dof"].values]
    a, b = _portrait_axes(names, bool(data.attrs["canonical"]))
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.6 * rows), squeeze=False)
    for ax, model in zip(axes.flat, models, strict=False):
        ds = evaluated(curves[model], "state_pred")
        if ds is None:
            ax.set_title(f"{model}: training failed on seed {seed}")
            ax.axis("off")
            continue
        test = ds["state_pred"].where(ds["split"] == "test", drop=True)
        prediction = test.isel(trajectory=trajectory).values
        if particles and int(data.attrs["space_dim"]) >= 2:
            _plot_particles(ax, truth, prediction, particles, int(data.attrs["space_dim"]))
            ax.set_title(model)
            continue
        ax.plot(truth[:, a], truth[:, b], color="black", lw=1.5, label="truth")
        style = (styles or model_styles(models))[model]
        ax.plot(prediction[:, a], prediction[:, b], lw=1, label="prediction", color=style["color"])
        ax.set(title=model, xlabel=names[a], ylabel=names[b])
        span = np.ptp(truth[:, [a, b]], axis=0)
        centre = truth[:, [a, b]].mean(axis=0)
        # Keep the view on the true orbit, so that a diverging prediction does not hide it.
        ax.set_xlim(centre[0] - span[0], centre[0] + span[0])
        ax.set_ylim(centre[1] - span[1], centre[1] + span[1])
    for ax in list(axes.flat)[len(models) :]:
        ax.axis("off")
    if particles:
        axes.flat[0].plot([], [], color="grey", lw=1.5, label="truth")
        axes.flat[0].plot([], [], color="grey", lw=1, ls="--", label="prediction")
    axes.flat[0].legend(fontsize="small")
    fig.suptitle(f"{system}: test trajectory {trajectory}, seed {seed}")
    fig.tight_layout()
    return fig


def plot_pareto(scalars: pd.DataFrame, accuracy: str = "final_error", styles=None):
    """Accuracy against each cost, seed means, with the Pareto front drawn."""
    models = scalars[~scalars["model"].str.startswith(NUMERICAL)]
    means = models.groupby("model")[[accuracy, *PARETO_COSTS]].mean(numeric_only=True)
    means = means[np.isfinite(means[accuracy])]
    fig, axes = plt.subplots(1, len(PARETO_COSTS), figsize=(5 * len(PARETO_COSTS), 4))
    for ax, (cost, label) in zip(axes, PARETO_COSTS.items(), strict=True):
        x, y = means[cost].to_numpy(float), means[accuracy].to_numpy(float)
        styles = styles or model_styles(means.index)
        ax.scatter(x, y, color=[styles[name]["color"] for name in means.index])
        for name, xi, yi in zip(means.index, x, y, strict=True):
            ax.annotate(name, (xi, yi), fontsize="small", xytext=(3, 3), textcoords="offset points")
        front = pareto_front(x, y)
        ax.step(x[front], y[front], where="post", color="0.5", lw=1, label="Pareto front")
        ax.set(xlabel=label, ylabel=accuracy.replace("_", " "), xscale="log", yscale="log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_budget_curves(budgets: pd.DataFrame, horizon: str, styles=None):
    """Validation rollout error at `horizon` (a `val_error_t…` column) against the training
    spent, in optimiser steps and in wall seconds: one line per model through the seed means of
    each budget and of the trained model (each seed's points shown), so that a reader sees
    whether more training would change the ranking."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    models = sorted(budgets["model"].unique())
    styles = styles or model_styles(models)
    for model in models:
        runs = budgets[budgets["model"] == model]
        mean = runs.groupby("point")[["step", "wall_s", horizon]].mean().dropna()
        mean = mean.sort_values("step")
        for ax, spent in zip(axes, ("step", "wall_s"), strict=True):
            ax.plot(mean[spent], mean[horizon], marker="o", ms=3, label=model, **styles[model])
            ax.scatter(runs[spent], runs[horizon], s=6, color=styles[model]["color"], alpha=0.4)
    for ax, label in zip(axes, ("optimiser steps", "training wall time (s)"), strict=True):
        ax.set(xlabel=label, xscale="log", yscale="log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"validation error at t = {horizon.removeprefix('val_error_t')}")
    axes[1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig

"""Helpers for the report notebooks: read evaluation outputs, build tables, draw plots."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from phasebench.data import load_split, open_store, trajectory_parameters
from phasebench.evaluation import FORMAT as EVAL_FORMAT

# Leaderboard columns in order: metric -> heading. Rollout horizons are inserted as found.
ACCURACY = {
    "one_step_error": "one-step error",
    "final_error": "final rollout error",
    "valid_time": "valid time",
    "final_energy_error": "final energy error",
    "energy_drift": "energy drift / time",
    "det_error": "|det J − 1|",
    "symplectic_error": "‖JᵀΩJ − Ω‖",
    "ood_final_error": "OOD final error",
    "ood_valid_time": "OOD valid time",
}
COST = {
    "parameters": "parameters",
    "train_time_s": "train time [s]",
    "epochs": "epochs",
    "inference_ms_per_step": "inference [ms/step]",
    "inference_ms_per_step_gpu": "GPU inference [ms/step]",
    "peak_memory_mb": "peak memory [MB]",
}
PARETO_COSTS = {
    "train_time_s": "train time [s]",
    "inference_ms_per_step": "inference time [ms/step]",
    "parameters": "parameters",
}
NUMERICAL = "numerical: "
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


def eval_path(results_dir, system: str, model: str, seed: int, ext: str) -> Path:
    return Path(results_dir) / "eval" / system / model / f"seed{seed}.{ext}"


def numerical_path(results_dir, system: str, integrator: str, ext: str) -> Path:
    return Path(results_dir) / "eval" / system / "numerical" / f"{integrator}.{ext}"


def load_scalars(results_dir, system: str, models, seeds, integrators=()) -> pd.DataFrame:
    """One row per (model, seed), plus one per reference integrator, with every scalar."""
    paths = [eval_path(results_dir, system, m, s, "json") for m in models for s in seeds]
    paths += [numerical_path(results_dir, system, i, "json") for i in integrators]
    return pd.DataFrame([json.loads(path.read_text()) for path in paths])


def split_failed(scalars: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The evaluated rows, and the rows of runs whose training failed (`status: failed`, with
    the reason in `failure`): those have no errors to rank or plot."""
    if "status" not in scalars:
        return scalars, scalars.iloc[:0]
    failed = scalars["status"] == "failed"
    return scalars[~failed].reset_index(drop=True), scalars[failed].reset_index(drop=True)


def failure_list(failed: pd.DataFrame, with_system: bool = False) -> str:
    """Markdown bullets: each failed run and the one-sentence reason training recorded."""
    return "\n".join(
        f"- {f'{r.system} × ' if with_system else ''}**{r.model}**, seed {r.seed}: {r.failure}"
        for r in failed.itertuples()
    )


def _evaluated(path: Path, variable: str) -> xr.Dataset | None:
    """An evaluation's curves, or None for a run whose training failed (it has none)."""
    ds = open_store(path, kind=EVAL_FORMAT, required=())
    if ds.attrs.get("status") == "failed":
        return None
    return open_store(path, kind=EVAL_FORMAT, required=(variable,))


def _horizon_columns(df: pd.DataFrame) -> list[str]:
    found = [c for c in df.columns if c.startswith("error_t")]
    return sorted(found, key=lambda c: float(c.removeprefix("error_t")))


def _format(mean: float, std: float = 0.0) -> str:
    if pd.isna(mean):
        return "–"
    if not np.isfinite(mean):
        return "∞"
    if 100 <= abs(mean) < 1e6 and float(mean).is_integer():
        return f"{mean:.0f}"
    text = f"{mean:.3g}"
    return text if not std else f"{text} ± {std:.2g}"


def seed_ranks(scalars: pd.DataFrame, metric: str = "final_error") -> pd.DataFrame:
    """Each model's rank among the models on each seed (1 = best; diverged ranks last)."""
    models = scalars[~scalars["model"].str.startswith(NUMERICAL)]
    table = models.pivot_table(index="model", columns="seed", values=metric, dropna=False)
    return table.fillna(np.inf).rank(axis=0, method="min")


def _summary(scalars: pd.DataFrame, metrics: list[str]):
    """Seed means and standard deviations, and the models ordered by mean final error."""
    numeric = scalars[["model", *metrics]].copy()
    numeric[metrics] = numeric[metrics].apply(pd.to_numeric, errors="coerce")
    grouped = numeric.groupby("model")[metrics]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    final = pd.to_numeric(scalars["final_error"], errors="coerce").groupby(scalars["model"]).mean()
    # Models that diverged on every seed go last, whatever their (meaningless) errors.
    all_diverged = scalars.groupby("model")["diverged"].all()
    key = pd.DataFrame({"all_diverged": all_diverged, "final": final.fillna(np.inf)})
    order = key.sort_values(["all_diverged", "final"], kind="stable").index
    return order, mean, std


def _metric_columns(table, order, mean, std, metrics, headings) -> pd.DataFrame:
    for metric in metrics:
        heading = headings.get(metric, f"error at t={metric.removeprefix('error_t')}")
        column = [_format(mean.at[m, metric], std.at[m, metric]) for m in order]
        if any(value != "–" for value in column):
            table[heading] = column
    return table


def leaderboard(scalars: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and physics: mean ± standard deviation over seeds, best final error first.

    `rank over seeds` shows how stable the ranking is; `vs. next better` says `≈` when the
    model's seed range of final errors overlaps that of the model ranked just above it, i.e.
    the difference is within seed noise.
    """
    metrics = [m for m in ACCURACY if m in scalars.columns]
    metrics[1:1] = _horizon_columns(scalars)
    order, mean, std = _summary(scalars, metrics)
    final = pd.to_numeric(scalars["final_error"], errors="coerce").groupby(scalars["model"])
    low, high = final.min(), final.max()
    diverged = scalars.groupby("model")["diverged"].sum()
    seeds = scalars.groupby("model").size()
    ranks = seed_ranks(scalars)

    table = pd.DataFrame(index=pd.Index(order, name="model"))
    table["seeds"] = seeds[order]
    if "variants" in scalars.columns:
        table["variants tried"] = scalars.groupby("model")["variants"].first()[order]
    table["status"] = [
        f"diverged ({diverged[m]}/{seeds[m]})" if diverged[m] else "ok" for m in order
    ]
    table["training"] = [training_label(scalars[scalars["model"] == m]) for m in order]
    table["rank over seeds"] = [
        f"{ranks.loc[m].min():.0f}–{ranks.loc[m].max():.0f}" if m in ranks.index else "reference"
        for m in order
    ]
    neighbour = []
    for i, model in enumerate(order):
        better = order[i - 1] if i else None
        overlap = better is not None and low[model] <= high[better]
        neighbour.append(f"≈ {better}" if overlap and seeds[model] > 1 else "")
    table["vs. next better"] = neighbour
    return _metric_columns(table, order, mean, std, metrics, ACCURACY)


def training_label(rows: pd.DataFrame) -> str:
    """How a model's trainings stopped, over its seeds: "early stop", or e.g. "max epochs,
    NOT CONVERGED 2/2" (still improving by more than 1% over the last 10% of epochs)."""
    if "stop_reason" not in rows or rows["stop_reason"].isna().all():
        return "—"  # a numerical method, or results from before stop reasons were recorded
    words = {"early_stopping": "early stop", "max_epochs": "max epochs", "diverged": "diverged"}
    parts = []
    for reason, group in rows.groupby("stop_reason", sort=False):
        label = words.get(reason, str(reason))
        unconverged = int((group["converged"] == False).sum())  # noqa: E712 (None is unknown)
        if unconverged:
            label += f", NOT CONVERGED {unconverged}/{len(rows)}"
        elif len(group) < len(rows):
            label += f" {len(group)}/{len(rows)}"
        parts.append(label)
    return "; ".join(parts)


def cost_table(scalars: pd.DataFrame) -> pd.DataFrame:
    """Cost: parameters, training and inference time, memory; in leaderboard order."""
    metrics = [m for m in COST if m in scalars.columns]
    order, mean, std = _summary(scalars, metrics)
    table = pd.DataFrame(index=pd.Index(order, name="model"))
    table["family"] = scalars.groupby("model")["family"].first()[order]
    return _metric_columns(table, order, mean, std, metrics, COST)


def select_variants(scalars: pd.DataFrame, sweeps: dict, select_by: str):
    """Of each swept model keep the variant with the lowest mean validation metric `select_by`
    (never a test metric); its rows get `variants`, how many variants were tried.

    Returns the kept rows and {swept model: chosen variant}.
    """
    keep = pd.Series(True, index=scalars.index)
    tried = pd.Series(1, index=scalars.index)
    chosen = {}
    for base, variants in sweeps.items():
        rows = scalars[scalars["model"].isin(list(variants))]
        if rows.empty:
            continue
        metric = pd.to_numeric(rows[select_by], errors="coerce").fillna(np.inf)
        best = metric.groupby(rows["model"]).mean().idxmin()
        chosen[base] = best
        keep &= ~scalars["model"].isin(list(variants)) | (scalars["model"] == best)
        tried[scalars["model"] == best] = rows["model"].nunique()
    return scalars[keep].assign(variants=tried[keep]), chosen


def variant_table(scalars: pd.DataFrame, variants: dict, chosen: str, select_by: str):
    """Every variant of one swept model: its settings, validation and test errors."""
    rows = scalars[scalars["model"].isin(list(variants))]
    metrics = [select_by, "final_error"]
    numeric = rows[["model", *metrics]].copy()
    numeric[metrics] = numeric[metrics].apply(pd.to_numeric, errors="coerce")
    mean = numeric.groupby("model")[metrics].mean()
    std = numeric.groupby("model")[metrics].std(ddof=0)
    order = mean[select_by].fillna(np.inf).sort_values(kind="stable").index
    table = pd.DataFrame([variants[m] for m in order], index=pd.Index(order, name="variant"))
    table[f"{select_by} (selects)"] = [
        _format(mean.at[m, select_by], std.at[m, select_by]) for m in order
    ]
    table["test final error"] = [
        _format(mean.at[m, "final_error"], std.at[m, "final_error"]) for m in order
    ]
    table["chosen"] = ["✓" if m == chosen else "" for m in order]
    return table


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


def load_curves(
    results_dir, system: str, models, seeds, variable: str, integrators=(), split: str = "test"
) -> dict[str, xr.DataArray]:
    """Per model, `variable` averaged over the split's trajectories, with a `seed` dimension."""
    sources = {m: [eval_path(results_dir, system, m, s, "zarr") for s in seeds] for m in models}
    for integrator in integrators:
        sources[NUMERICAL + integrator] = [numerical_path(results_dir, system, integrator, "zarr")]
    curves = {}
    for model, paths in sources.items():
        per_seed = []
        for path in paths:
            ds = _evaluated(path, variable)
            if ds is None:
                continue
            chosen = ds[variable].where(ds["split"] == split, drop=True)
            if chosen.sizes["trajectory"] == 0:
                break
            per_seed.append(chosen.mean("trajectory").load())
        if per_seed:
            curves[model] = xr.concat(per_seed, dim=pd.Index(range(len(per_seed)), name="seed"))
    return curves


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


def error_by_parameter(results_dir, system: str, models, seeds) -> pd.DataFrame:
    """One row per (model, seed, test or test_ood trajectory): the values of the data's swept
    parameters and the final rollout error. Empty when the data has no sweep."""
    data = open_store(Path(results_dir) / "data" / f"{system}.zarr")
    params = trajectory_parameters(data)
    if not params:
        return pd.DataFrame()
    by_trajectory = pd.DataFrame(params, index=data["trajectory"].values)
    rows = []
    for model in models:
        for seed in seeds:
            ds = _evaluated(eval_path(results_dir, system, model, seed, "zarr"), "rel_error")
            if ds is None:
                continue
            final = ds["rel_error"].isel(time=-1).values
            part = by_trajectory.loc[ds["trajectory"].values].assign(
                model=model, seed=seed, split=ds["split"].values, final_error=final
            )
            rows.append(part)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def swept_parameters(results_dir, system: str) -> dict:
    """The data's parameter sweep: name -> {low, high[, ood_low, ood_high]}."""
    ds = open_store(Path(results_dir) / "data" / f"{system}.zarr")
    return json.loads(ds.attrs.get("swept_parameters", "{}"))


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
    results_dir, system: str, models, seed: int, trajectory: int = 0, styles=None
):
    """Truth against prediction for one test trajectory, one panel per model: (q1, p1) or the
    first two coordinates; on a particle system every particle's path in the (x, y) plane."""
    data = open_store(Path(results_dir) / "data" / f"{system}.zarr")
    truth = load_split(data, "test")[trajectory]
    particles = int(data.attrs.get("particles", 0))
    names = [str(n) for n in data["dof"].values]
    a, b = _portrait_axes(names, bool(data.attrs["canonical"]))
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.6 * rows), squeeze=False)
    for ax, model in zip(axes.flat, models, strict=False):
        ds = _evaluated(eval_path(results_dir, system, model, seed, "zarr"), "state_pred")
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


def rotation_table(scalars: pd.DataFrame) -> pd.DataFrame:
    """One-step error on the test split as stored and turned by a fixed rotation (particle
    systems), seed means per model: equal for a rotation-equivariant model."""
    if "rotated_one_step_error" not in scalars:
        return pd.DataFrame()
    rows = scalars.dropna(subset=["rotated_one_step_error"])
    table = rows.groupby("model", sort=False)[["one_step_error", "rotated_one_step_error"]].mean()
    table["ratio"] = table["rotated_one_step_error"] / table["one_step_error"]
    return table.sort_values("one_step_error").rename(
        columns={"one_step_error": "test", "rotated_one_step_error": "rotated test"}
    )


def pareto_front(cost: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both cost and error, by cost."""
    order = np.argsort(cost, kind="stable")
    front, best = [], np.inf
    for i in order:
        if error[i] < best:
            front.append(i)
            best = error[i]
    return np.array(front, dtype=int)


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


def data_provenance(results_dir, system: str) -> dict:
    """How the system's data was made, and a hash of its states."""
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
    info = {key: ds.attrs.get(key) for key in keys}
    states = np.ascontiguousarray(ds["state"].values)
    info["data_hash"] = hashlib.sha256(states.tobytes()).hexdigest()[:16]
    return info


STUDY_TITLES = {
    "attention_kernels": "Attention kernels: error of random-feature estimators of softmax",
    "vision": "Images: ViT, Performer kernels and Stiefel weights on handwritten digits",
}


def study_links(studies) -> str:
    """The index's links to the enabled studies' pages (nothing when none is enabled)."""
    if not studies:
        return ""
    items = [f"- [{STUDY_TITLES.get(name, name)}](studies/{name}.html)" for name in studies]
    return "## Studies\n\n" + "\n".join(items)


def run_scalars(results_dir, runs, seeds) -> list[dict]:
    """The evaluation scalars of every (system, model) run and seed."""
    return [
        json.loads(eval_path(results_dir, run["system"], run["model"], seed, "json").read_text())
        for run in runs
        for seed in seeds
    ]


def failed_runs(results_dir, runs, seeds) -> pd.DataFrame:
    """The scalars of the runs whose training failed, with the reason in `failure`."""
    return split_failed(pd.DataFrame(run_scalars(results_dir, runs, seeds)))[1]


def training_summary(results_dir, runs, seeds) -> str:
    """One sentence: how many trainings converged, and which did not."""
    rows = run_scalars(results_dir, runs, seeds)
    known = [r for r in rows if r.get("converged") is not None]
    if not known:
        return "These results do not record why training stopped (trained before it was recorded)."
    unconverged = [r for r in known if not r["converged"]]
    stragglers = sorted({f"{r['model']} ({r['system']})" for r in unconverged})
    early = sum(r.get("stop_reason") == "early_stopping" for r in known)
    sentence = (
        f"{len(known) - len(unconverged)} of {len(known)} trainings converged "
        f"({early} stopped early). "
    )
    if stragglers:
        sentence += (
            "Still improving when they reached max_epochs (more than 1% better over their last "
            "10% of epochs), so ranked within a budget, not at convergence: "
            f"{', '.join(stragglers)}."
        )
    return sentence


def overview(results_dir, runs, seeds, sweeps=None, select_by="val_final_error") -> pd.DataFrame:
    """Final rollout error, valid time and energy error of every (system, model), seed means;
    of a swept model only the variant chosen on validation data."""
    scalars, _ = split_failed(pd.DataFrame(run_scalars(results_dir, runs, seeds)))
    if scalars.empty:
        return pd.DataFrame()
    df = pd.concat(
        select_variants(part, sweeps or {}, select_by)[0] for _, part in scalars.groupby("system")
    )
    columns = {
        "final_error": "final rollout error",
        "valid_time": "valid time",
        "final_energy_error": "final energy error",
        "parameters": "parameters",
        "train_time_s": "train time [s]",
    }
    df[list(columns)] = df[list(columns)].apply(pd.to_numeric, errors="coerce")
    table = df.groupby(["system", "model"])[list(columns)].mean()
    table["diverged"] = df.groupby(["system", "model"])["diverged"].sum()
    if "converged" in df:
        table["converged"] = df.groupby(["system", "model"])["converged"].agg(
            lambda seeds: f"{int((seeds == True).sum())}/{len(seeds)}"  # noqa: E712
        )
    table = table.sort_values(["system", "final_error"], na_position="last")
    table["parameters"] = table["parameters"].astype(int)
    for column in ("final_error", "valid_time", "final_energy_error", "train_time_s"):
        table[column] = [_format(value) for value in table[column]]
    table["diverged"] = [f"{n} seed(s)" if n else "" for n in table["diverged"]]
    return table.rename(columns=columns)


def budget_table(scalars: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, seed, budget) from the evaluations' `budget_curve`: epoch, optimiser
    steps, wall seconds, the validation rollout errors at the horizons, and `point`: the budget's
    epoch, or "end" for the trained model (whose epoch differs between seeds)."""
    if "budget_curve" not in scalars:
        return pd.DataFrame()
    rows = [
        {"model": run.model, "seed": run.seed, "point": str(point["epoch"]), **point}
        for run in scalars.itertuples()
        if isinstance(run.budget_curve, list)
        for point in run.budget_curve
    ]
    table = pd.DataFrame(rows)
    if len(table):
        last = table.groupby(["model", "seed"]).cumcount(ascending=False) == 0
        table.loc[last, "point"] = "end"
    return table


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

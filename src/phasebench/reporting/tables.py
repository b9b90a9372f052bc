"""The reports' tables: leaderboards over seeds, costs, sweeps, budgets, the overview."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phasebench.reporting.loading import NUMERICAL, load_scalars

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


def failed_runs(paths) -> pd.DataFrame:
    """The scalars of the runs whose training failed, with the reason in `failure`."""
    return split_failed(load_scalars(paths))[1]


def training_summary(paths) -> str:
    """One sentence: how many trainings converged, and which did not."""
    rows = load_scalars(paths).to_dict("records")
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


def overview(paths, sweeps=None, select_by="val_final_error") -> pd.DataFrame:
    """Final rollout error, valid time and energy error of every (system, model), seed means,
    from the runs' scalars files; of a swept model only the variant chosen on validation data."""
    scalars, _ = split_failed(load_scalars(paths))
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

"""Where a run of configs/vpt-paper-schedule.yaml stands: for each model, its optimiser steps so
far, learning rate and losses, and the rollout error of its best weights so far at the paper's
horizons (t = 14, 50, 100), beside the paper's numbers, on three sets of initial conditions:

  paper_ics_train            the paper's own (the training split: the paper evaluates on
                             trajectories it trained on);
  held_out_test              held-out ones (the test split);
  gml_validation_trajectory  the one trajectory the paper's code plots, (sin 1.1, 0, cos 1.1).

With each, the Casimir ‖z‖ at t = 100 (mean and range over the trajectories) and its largest
value at any time. Then the error against optimiser steps of the best weights kept at each budget
(`evaluation.budgets`: after 10 %, 25 % and 50 % of the epochs), on the held-out ones. Works on
a finished run and on one still in progress (or killed).

    python benchmarks/vpt_paper_progress.py RESULTS_DIR [--out FILE.json]

RESULTS_DIR is the `results/` folder the run wrote (e.g. `snakemake -d DIR` writes DIR/results).
Beside FILE.json goes FILE.png: validation loss and held-out error against optimiser steps.
"""

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import torch
from vpt_gml_differences import HORIZONS, plotted_trajectory, rollout_errors

from phasebench.data import load_split, open_store
from phasebench.evaluation import load_model

# REFERENCE.md, read from the paper's figures (about ±5%).
PAPER = {"vpt": (0.005, 0.04, 0.2), "vpff": (0.04, 0.15, 1.2), "transformer": None}
MODELS = ("vpt", "vpff", "transformer")


def history(run: Path) -> list[dict]:
    """Per-epoch rows: the published metrics.csv, else the checkpoint's history (in progress)."""
    if (run / "metrics.csv").exists():
        with (run / "metrics.csv").open() as f:
            rows = list(csv.DictReader(f))
        return [{k: float(v) if v else math.nan for k, v in row.items()} for row in rows]
    resume = run / "progress" / "resume.ckpt"
    if resume.exists():
        return torch.load(resume, map_location="cpu", weights_only=False).get("history", [])
    return []


def best_weights(run: Path) -> Path | None:
    for path in (run / "best.ckpt", run / "progress" / "best.ckpt"):
        if path.exists():
            return path
    return None


def budget_weights(run: Path) -> list[tuple[int, Path]]:
    """(epoch, checkpoint) of every budget kept so far, finished run or in progress."""
    kept = run / "budgets" if (run / "train.json").exists() else run / "progress" / "budgets"
    found = [(int(p.stem.split("-")[1]), p) for p in kept.glob("epoch-*.ckpt")]
    return sorted(found)


def scores(checkpoint: Path, truth: np.ndarray, time_axis: np.ndarray) -> dict:
    """`rollout_errors` of the weights in `checkpoint`."""
    return rollout_errors(load_model(checkpoint), truth, time_axis)


# A diverged rollout's error (None, or up to 1e6) is drawn here, to keep the scale readable.
CEILING = 3.0


def plot(report: dict, out: Path) -> None:
    """Validation loss and held-out rollout error against optimiser steps, one colour a model;
    the paper's end-of-schedule errors as crosses at 500 000 steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(12, 4.2))
    styles = dict(zip(HORIZONS, ("o-", "s--", "^:"), strict=True))
    for (model, entry), colour in zip(report["models"].items(), ("C0", "C1", "C2"), strict=False):
        steps, losses = zip(*((r["step"], r["val_loss"]) for r in entry["curve"]), strict=True)
        loss_ax.plot(steps, losses, colour, label=model)
        points = [p for p in entry["error_against_steps"] if p["step"]]
        for h in HORIZONS:
            key = f"error_t{h:g}"
            error_ax.plot(
                [p["step"] for p in points],
                [CEILING if p[key] is None else min(p[key], CEILING) for p in points],
                styles[h],
                color=colour,
                label=f"{model}, t = {h:g}",
            )
            if PAPER[model]:
                error_ax.plot(500_000, PAPER[model][HORIZONS.index(h)], "x", color=colour, ms=9)
    loss_ax.set(yscale="log", xlabel="optimiser steps", ylabel="validation loss (relative)")
    error_ax.set(
        yscale="log",
        xlabel="optimiser steps",
        ylabel="mean relative rollout error, held-out",
        ylim=(None, CEILING * 1.5),
        title=f"budgets' best weights (x: the paper's; diverged drawn at {CEILING:g})",
    )
    for ax in (loss_ax, error_ax):
        ax.grid(True, which="both", alpha=0.3)
    loss_ax.legend()
    error_ax.legend(fontsize=7, ncol=3)
    fig.suptitle("configs/vpt-paper-schedule.yaml on the rigid body (CPU, one seed)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", default="benchmarks/results/vpt_paper_progress.json")
    args = parser.parse_args()
    ds = open_store(args.results / "data" / "rigid_body.zarr")
    time_axis = ds["time"].values
    splits = {
        "paper_ics_train": load_split(ds, "train"),
        "held_out_test": load_split(ds, "test"),
        "gml_validation_trajectory": plotted_trajectory(ds),
    }
    report = {"results": str(args.results), "paper": PAPER, "models": {}}
    for model in MODELS:
        run = args.results / "runs" / "rigid_body" / model / "seed0"
        rows, weights = history(run), best_weights(run)
        if not rows or weights is None:
            continue
        last = rows[-1]
        entry = {
            "epochs": len(rows),
            "steps": int(last["step"]),
            "lr": last.get("lr"),
            "best_val_loss": min(r["val_loss"] for r in rows if math.isfinite(r["val_loss"])),
            "finished": (run / "train.json").exists(),
            "curve": [  # every 1000th epoch: loss against optimiser steps
                {"step": int(r["step"]), "train_loss": r["train_loss"], "val_loss": r["val_loss"]}
                for r in rows[::1000]
            ],
        }
        for split, truth in splits.items():
            entry[split] = scores(weights, truth, time_axis)
        steps_at = {int(r["epoch"]) + 1: int(r["step"]) for r in rows}
        entry["error_against_steps"] = [  # the budgets' best weights, then the best so far
            {"epoch": epoch, "step": steps_at.get(epoch)}
            | scores(path, splits["held_out_test"], time_axis)
            for epoch, path in budget_weights(run)
        ] + [{"epoch": len(rows), "step": entry["steps"]} | entry["held_out_test"]]
        report["models"][model] = entry
        held = entry["held_out_test"]
        print(
            f"{model:12s} {entry['steps']:7d} steps  val {entry['best_val_loss']:.3g}  "
            + "  ".join(f"t={h:g}: {held[f'error_t{h:g}']}" for h in HORIZONS)
            + f"  paper {PAPER[model]}"
        )
    Path(args.out).write_text(json.dumps(report, indent=1))
    plot(report, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()

"""The EGNN N-body table (Satorras, Hoogeboom & Welling 2021, Table 2) beside phasebench runs of
configs/nbody-egnn.yaml: the test position MSE at frame 40 of each model and seed, mean ± std
over the seeds, with training settings, optimiser steps, stop reason and wall time, the
validation curve of each run (from its metrics.csv), and the issue's goals checked on the mean.

    python benchmarks/nbody_egnn_table.py RESULTS_DIR [RESULTS_DIR ...] [--out FILE.json]
        [--earlier TABLE.json] [--history TABLE.json --history-label TEXT]

Each RESULTS_DIR is a `results/` folder a run wrote; runs (model, seed) found in an earlier
folder win (a run split over several working directories). `--earlier` is a table this script
wrote for a shorter schedule: each model in both gets a power law err = a · steps^(−b) through
the two schedules' mean errors, and the steps at which it would meet its goal if it misses it (an
extrapolation from two points, not a measurement). `--history` is a table this script wrote
before (often the --out file itself): its summary and rows are kept under "history", labelled,
so that a rerun does not erase earlier settings' numbers. Each row records the stored times of
its data (frames 30 and 40: t = 3.1 and 4.1 with the paper's frame offset, `start_time: 0.1`).
"""

import argparse
import csv
import json
import math
import statistics
from pathlib import Path

import xarray as xr
import yaml

PAPER = {
    "linear": 0.0819,
    "se3_transformer": 0.0244,
    "tfn": 0.0155,
    "gnn": 0.0107,
    "radial_field": 0.0104,
    "egnn": 0.0071,
}
# The goals: linear within 10 % of the paper; egnn ≤ 0.008; the transformer ≤ the GNN.
GOALS = {
    "linear": ("within 10 % of 0.0819", lambda v: abs(v / 0.0819 - 1) <= 0.10, 0.0819 * 1.1),
    "egnn": ("≤ 0.008", lambda v: v <= 0.008, 0.008),
    "particle_transformer": ("≤ 0.0107 (stretch 0.0071)", lambda v: v <= 0.0107, 0.0107),
}
SYSTEM = "nbody_charged"
SHOWN = ("loss", "batch_size", "lr", "lr_end", "lr_decay_steps", "max_epochs", "patience")


def curve(run: Path) -> dict:
    """The run's validation loss at each tenth of its epochs, its best epoch, the last train
    loss: whether the error was still falling when the schedule ended."""
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    if not rows:
        return {}
    val = [float(r["val_loss"]) for r in rows]
    picks = sorted({min(len(rows) - 1, round(k * len(rows) / 10) - 1) for k in range(1, 11)})
    best = min(range(len(val)), key=val.__getitem__)
    return {
        "step_val_loss": [[int(rows[i]["step"]), val[i]] for i in picks if i >= 0],
        "best_epoch": best + 1,
        "best_step": int(rows[best]["step"]),
        "last_train_loss": float(rows[-1]["train_loss"]),
        "last_lr": float(rows[-1]["lr"]),
    }


def data_clock(results: Path) -> dict:
    """The stored times of the data the runs trained on, and the start_time that put them
    there (stores from before start_time existed: 0)."""
    ds = xr.open_zarr(results / "data" / f"{SYSTEM}.zarr")
    times = ds["time"].values.tolist()
    return {"start_time": ds.attrs.get("start_time", 0.0), "stored_times": times}


def run_row(results: Path, model: str, seed: int) -> dict | None:
    scalars = results / "eval" / SYSTEM / model / f"seed{seed}.json"
    if not scalars.is_file():
        return None
    score = json.loads(scalars.read_text())
    run = results / "runs" / SYSTEM / model / f"seed{seed}"
    train = json.loads((run / "train.json").read_text())
    settings = yaml.safe_load((run / "hparams.yaml").read_text())["training"]
    return {
        "model": model,
        "plugin": train.get("plugin", model),
        "seed": seed,
        "data": data_clock(results),
        "test_position_mse": score["final_position_mse"],
        "val_position_mse": score.get("val_final_position_mse"),
        "rotated_one_step_error": score.get("rotated_one_step_error"),
        "one_step_error": score["one_step_error"],
        "parameters": score["parameters"],
        "epochs": train["epochs"],
        "steps": train["steps"],
        "stop_reason": train.get("stop_reason"),
        "train_wall_s": train["wall_time_s"],
        "hparams": train["hparams"],
        "training": {key: settings.get(key) for key in SHOWN},
        "curve": curve(run),
    }


def summarise(model: str, runs: list[dict]) -> dict:
    """Mean ± sample std over the seeds, and the goal checked on the mean. A run named other
    than its plugin (`particle_transformer_rot`) is held to its plugin's paper value and goal."""
    plugin = runs[0].get("plugin", model)
    errors = [r["test_position_mse"] for r in runs]
    out = {
        "model": model,
        "plugin": plugin,
        "hparams": runs[0]["hparams"],
        "seeds": [r["seed"] for r in runs],
        "test_position_mse": errors,
        "mean": statistics.fmean(errors),
        "std": statistics.stdev(errors) if len(errors) > 1 else None,
        "steps": [r["steps"] for r in runs],
        "train_wall_s": [r["train_wall_s"] for r in runs],
        "training": runs[0]["training"],
        "paper": PAPER.get(plugin),
    }
    if plugin in GOALS:
        text, met, _ = GOALS[plugin]
        out["goal"], out["goal_met"] = text, bool(met(out["mean"]))
        out["seeds_meeting_goal"] = sum(bool(met(e)) for e in errors)
    return out


def extrapolate(earlier: dict, now: dict) -> dict | None:
    """err = a · steps^(−b) through (earlier steps, error) and (these steps, mean error)."""
    s0, e0 = earlier["steps"], earlier["error"]
    s1, e1 = statistics.fmean(now["steps"]), now["mean"]
    if s1 <= s0 or e1 >= e0:
        return {"from": [[s0, e0], [s1, e1]], "note": "no improvement with more steps"}
    b = math.log(e0 / e1) / math.log(s1 / s0)
    out = {"from": [[s0, e0], [s1, e1]], "exponent_b": b}
    if now["plugin"] in GOALS and not now["goal_met"]:
        target = GOALS[now["plugin"]][2]
        out["steps_to_goal"] = s1 * (e1 / target) ** (1 / b)
    return out


def earlier_points(path: Path) -> dict:
    """(steps, error) per model from a table written before: seed rows or summaries."""
    table = json.loads(path.read_text())
    points = {}
    for r in table.get("summary", []):
        points[r["model"]] = {"steps": statistics.fmean(r["steps"]), "error": r["mean"]}
    for r in table.get("rows", []):
        points.setdefault(r["model"], {"steps": r["steps"], "error": r["test_position_mse"]})
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--earlier", type=Path)
    parser.add_argument("--history", type=Path)
    parser.add_argument("--history-label", default="")
    args = parser.parse_args()
    history = []
    if args.history:  # read first: it may be the --out file
        before = json.loads(args.history.read_text())
        history = before.get("history", []) + [
            {"label": args.history_label, **{k: v for k, v in before.items() if k != "history"}}
        ]
    runs: dict[tuple[str, int], dict] = {}
    for results in args.results:
        for scalars in sorted((results / "eval" / SYSTEM).glob("*/seed*.json")):
            key = (scalars.parent.name, int(scalars.stem.removeprefix("seed")))
            if key not in runs and (found := run_row(results, *key)):
                runs[key] = found
    models = sorted({model for model, _ in runs}, key=lambda m: -PAPER.get(m, 0))
    summary = [summarise(m, [r for (model, _), r in sorted(runs.items()) if model == m])
               for m in models]  # fmt: skip
    earlier = earlier_points(args.earlier) if args.earlier else {}
    for s in summary:
        if s["model"] in earlier and not s.get("goal_met", True):
            s["extrapolation"] = extrapolate(earlier[s["model"]], s)
        spread = f" ± {s['std']:.4f}" if s["std"] is not None else ""
        paper = f"{s['paper']:.4f}" if s["paper"] else "—"
        goal = f"goal {s['goal']}: {'met' if s['goal_met'] else 'not met'}" if "goal" in s else ""
        print(
            f"{s['model']:<22} {s['mean']:.4f}{spread} over {len(s['seeds'])} seeds (paper "
            f"{paper})  {statistics.fmean(s['steps']):.0f} steps, "
            f"{statistics.fmean(s['train_wall_s']) / 60:.1f} min per run  {goal}"
        )
        if "extrapolation" in s:
            print(f"    {s['extrapolation']}")
    if args.out:
        table = {"paper": PAPER, "summary": summary, "rows": list(runs.values())}
        if earlier:
            table["earlier_schedule"] = {"table": str(args.earlier), "steps_and_error": earlier}
        if history:
            table["history"] = history
        args.out.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()

"""The EGNN N-body table (Satorras, Hoogeboom & Welling 2021, Table 2) beside a phasebench run of
configs/nbody-egnn.yaml: the test position MSE at frame 40 of each model, with its training
settings, epochs, stop reason and wall time, and the issue's goals checked.

    python benchmarks/nbody_egnn_table.py RESULTS_DIR [RESULTS_DIR ...] [--out FILE.json]

Each RESULTS_DIR is a `results/` folder the run wrote; later folders add models the earlier
ones lack (a run split over several working directories).
"""

import argparse
import json
from pathlib import Path

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
    "linear": ("within 10 % of 0.0819", lambda v: abs(v / 0.0819 - 1) <= 0.10),
    "egnn": ("≤ 0.008", lambda v: v <= 0.008),
    "particle_transformer": ("≤ 0.0107 (stretch 0.0071)", lambda v: v <= 0.0107),
}
SYSTEM = "nbody_charged"


def row(results: Path, model: str) -> dict | None:
    scalars = results / "eval" / SYSTEM / model / "seed0.json"
    if not scalars.is_file():
        return None
    score = json.loads(scalars.read_text())
    run = results / "runs" / SYSTEM / model / "seed0"
    train = json.loads((run / "train.json").read_text())
    settings = yaml.safe_load((run / "hparams.yaml").read_text())["training"]
    shown = ("loss", "batch_size", "lr", "lr_end", "max_epochs", "patience", "min_improvement")
    out = {
        "model": model,
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
        "training": {key: settings[key] for key in shown},
        "paper": PAPER.get(model),
    }
    if model in GOALS:
        text, met = GOALS[model]
        out["goal"], out["goal_met"] = text, bool(met(out["test_position_mse"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = {}
    for results in args.results:
        for folder in sorted((results / "eval" / SYSTEM).glob("*")):
            if folder.name not in rows and (found := row(results, folder.name)):
                rows[folder.name] = found
    for r in rows.values():
        paper = f"{r['paper']:.4f}" if r["paper"] else "—"
        goal = f"goal {r['goal']}: {'met' if r['goal_met'] else 'not met'}" if "goal" in r else ""
        print(
            f"{r['model']:<22} {r['test_position_mse']:.4f} (paper {paper})  {r['epochs']} "
            f"epochs, {r['train_wall_s'] / 60:.1f} min  {goal}"
        )
    if args.out:
        args.out.write_text(json.dumps({"paper": PAPER, "rows": list(rows.values())}, indent=2))


if __name__ == "__main__":
    main()

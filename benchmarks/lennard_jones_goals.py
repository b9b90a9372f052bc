"""The many-particle goals, from a finished run of configs/lennard-jones.yaml and from
benchmarks/results/particle_scaling.json:

1. local attention trained at N = 64 keeps its one-step error at N = 1024 (test_ood, the
   split by N) within 2× of its in-distribution error at N = 64;
2. a rollout step at N = 4096 costs within 10× of one at N = 256, per particle.

Two one-step errors: the pipeline's (‖x̂ − x‖ / ‖x‖ of the whole state) and the increment
error ‖x̂ − x‖ / ‖x − x_prev‖. With unwrapped positions in a box whose side grows as √N, ‖x‖
grows faster than the error, so the pipeline's relative error falls by itself at larger N
(about 1/√N for the same error per particle); the increment error does not, so the goal is
judged on it.

    python benchmarks/lennard_jones_goals.py [--results results] [--model local_transformer]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from phasebench.data import load_split, open_store, particle_features
from phasebench.evaluation import load_model, one_step_error, true_windows, window_features
from phasebench.particle_ood import open_group
from phasebench.spec import spec_from_store


def errors(checkpoint: Path, ds, split: str) -> dict:
    """The pipeline's one-step error and the increment error of the model on one split."""
    spec = spec_from_store(ds)
    model = load_model(checkpoint, spec)
    truth, features = load_split(ds, split), particle_features(ds, split)
    windows = true_windows(model, truth)
    with torch.no_grad():
        predicted = model.step(windows[:, :1], window_features(model, truth, features))
    predicted, now, after = predicted[:, 0].numpy(), windows[:, 0].numpy(), windows[:, 1].numpy()
    half = spec.particles * spec.space_dim
    parts = {"": slice(None), "_positions": slice(0, half), "_momenta": slice(half, None)}
    out = {"particles": spec.particles, "one_step_error": one_step_error(model, truth, features)}
    for name, part in parts.items():
        miss = np.linalg.norm(predicted[:, part] - after[:, part])
        out[f"increment_error{name}"] = float(miss / np.linalg.norm(after[:, part] - now[:, part]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--system", default="lennard_jones")
    parser.add_argument("--models", nargs="+", default=["local_transformer", "linear"])
    parser.add_argument("--scaling", default="benchmarks/results/particle_scaling.json")
    parser.add_argument("--out", default="benchmarks/results/lennard_jones_goals.json")
    args = parser.parse_args()
    results = Path(args.results)
    store = results / f"data/{args.system}.zarr"
    root, group = open_store(store), open_group(store)
    summary = {"models": {}}
    for model in args.models:
        run = results / f"runs/{args.system}/{model}/seed0"
        trained = json.loads((run / "train.json").read_text())
        row = {
            "in_distribution": errors(run / "best.ckpt", root, "test"),
            "other_n": errors(run / "best.ckpt", group, "test_ood"),
            "epochs": trained["epochs"],
            "train_time_s": trained["wall_time_s"],
        }
        for key in ("one_step_error", "increment_error"):
            row[f"{key}_ratio"] = row["other_n"][key] / row["in_distribution"][key]
        summary["models"][model] = row
    local = summary["models"][args.models[0]]
    summary["goal_one_step_within_2x"] = {
        "increment_error_ratio": local["increment_error_ratio"],
        "met": local["increment_error_ratio"] <= 2,
    }
    scaling = json.loads(Path(args.scaling).read_text())
    steps = {r["particles"]: r["rollout_step_s"] for r in scaling["models"]["local attention"]}
    if 256 in steps and 4096 in steps:
        per_particle = (steps[4096] / 4096) / (steps[256] / 256)
        summary["goal_rollout_step_per_particle_within_10x"] = {
            "rollout_step_s_256": steps[256],
            "rollout_step_s_4096": steps[4096],
            "per_particle_ratio": per_particle,
            "met": per_particle <= 10,
        }
    text = json.dumps(summary, indent=2)
    print(text)
    Path(args.out).write_text(text)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()

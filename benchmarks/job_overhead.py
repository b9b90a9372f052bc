"""Fixed cost of the pipeline's jobs: wall time of `phasebench simulate/train/evaluate` on a tiny
problem (so that the time is start-up and bookkeeping, not work), and of a no-op Snakemake run.

    python benchmarks/job_overhead.py [--repeat 3] [--out benchmarks/results/job_overhead.json]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from phasebench.config import resolve, simulate_settings, train_settings

BIN = Path(sys.executable).parent


def timed(command: list[str], cwd=None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/job_overhead.json")
    args = parser.parse_args()

    plan = resolve(
        {
            "systems": [{"name": "coupled_oscillator", "n_trajectories": 8, "n_steps": 10}],
            "models": ["resnet"],
            "training": {"max_epochs": 1},
        }
    )
    system = simulate_settings(plan["systems"]["coupled_oscillator"])
    training = train_settings(plan["models"]["resnet"], 0, plan["evaluation"]["budgets"])
    timings: dict[str, list[float]] = {"simulate": [], "train": [], "evaluate": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data, run = tmp / "data.zarr", tmp / "run"
        cli = [str(BIN / "phasebench")]
        for _ in range(args.repeat):
            timings["simulate"].append(
                timed([*cli, "simulate", "--settings", json.dumps(system), "--out", str(data)])
            )
            timings["train"].append(
                timed(
                    [*cli, "train", "--settings", json.dumps(training), "--data", str(data)]
                    + ["--out", str(run)]
                )
            )
            timings["evaluate"].append(
                timed(
                    [*cli, "evaluate", "--settings", json.dumps(plan["evaluation"])]
                    + ["--model", "resnet", "--checkpoint", str(run / "best.ckpt")]
                    + ["--train-json", str(run / "train.json"), "--data", str(data)]
                    + ["--out-zarr", str(tmp / "e.zarr"), "--out-json", str(tmp / "e.json")]
                )
            )
        timings["import torch"] = [
            timed([sys.executable, "-c", "import torch"]) for _ in range(args.repeat)
        ]
        timings["import lightning.pytorch"] = [
            timed([sys.executable, "-c", "import lightning.pytorch"]) for _ in range(args.repeat)
        ]
        timings["snakemake -n (parse + DAG)"] = [
            timed([str(BIN / "snakemake"), "-n", "--quiet"], cwd=Path(__file__).parents[1])
            for _ in range(args.repeat)
        ]

    summary = {name: statistics.median(values) for name, values in timings.items()}
    for name, seconds in summary.items():
        print(f"{name:<28} {seconds:6.2f} s (median of {args.repeat})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"median_s": summary, "runs_s": timings}, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()

"""The image study on a reduced setting with one worker, then with more (`studies.vision.workers`):
wall seconds, CPU seconds of this process and of its worker processes, the machine's load, and
whether the rows agree number for number.

    python benchmarks/vision_workers.py [--workers 1 2] [--set epochs=10 ...]
        [--out benchmarks/results/vision_workers.json]

The setting is the schema's defaults with fewer runs (two ViTs on three random splits and one
sequential seed, the deep Stiefel model once) and `--set` overrides. On a shared machine the
wall ratio is only meaningful within one invocation; the CPU seconds say what the workers cost
(process start and imports included). Nothing here is asserted.
"""

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch

from phasebench.studies.vision import study

REDUCED = {
    "models": ["vit_softmax", "vit_favor", "deep_stiefel"],
    "seeds": [0, 1, 2],
    "sequential_seeds": [0],
    "deep_seeds": [0],
}


def cpu_seconds() -> tuple[float, float]:
    """User + system CPU seconds of this process and of its ended children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def measure(settings: dict) -> dict:
    load_before = os.getloadavg()
    own, children = cpu_seconds()
    start = time.perf_counter()
    rows = study.run(settings)
    wall = time.perf_counter() - start
    own_after, children_after = cpu_seconds()
    return {
        "workers": settings["workers"],
        "wall_s": wall,
        "cpu_s_main": own_after - own,
        "cpu_s_workers": children_after - children,
        "rows_cpu_s": float(rows.cpu_s.sum()),
        "rows_train_s": float(rows.train_s.sum()),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": rows[["model", "split", "seed", "accuracy"]].to_dict(orient="records"),
        "losses": rows.losses.dropna().tolist(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--set", nargs="*", default=[], help="key=value overrides")
    parser.add_argument("--out", default="benchmarks/results/vision_workers.json")
    args = parser.parse_args()
    settings = study.settings_with(args.set, base=REDUCED)
    del settings["enabled"]
    results = []
    for workers in args.workers:
        result = measure(settings | {"workers": workers})
        results.append(result)
        print(
            f"{workers} worker(s): {result['wall_s']:.1f} s wall, CPU {result['cpu_s_main']:.1f}"
            f" s here + {result['cpu_s_workers']:.1f} s in workers (the rows themselves "
            f"{result['rows_cpu_s']:.1f} s), load {result['load_before'][0]:.2f} → "
            f"{result['load_after'][0]:.2f}",
            flush=True,
        )
    first = results[0]
    for result in results[1:]:
        same = result["rows"] == first["rows"] and result["losses"] == first["losses"]
        print(
            f"{result['workers']} against {first['workers']} worker(s): wall ratio "
            f"{first['wall_s'] / result['wall_s']:.2f}×; rows identical: {same}"
        )
        result["rows_identical_to_first"] = same
    for result in results:
        del result["losses"]
    record = {
        "settings": settings,
        "machine": platform.platform(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()

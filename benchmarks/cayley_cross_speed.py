"""The `vpt` step with the feature-major Cayley transform's cross products written out
(`phasebench.layers.feature_major.cross`, the fast path) against `torch.linalg.cross` in the same
process: CPU ms per optimiser step at the paper's batch of 16384, 1 thread, in alternating
rounds so that the shared machine's load falls on both alike. Nothing here is asserted.

    python benchmarks/cayley_cross_speed.py [--rounds 6] [--steps 20] [--out FILE]
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import phasebench.layers.feature_major as feature_major
from phasebench.losses import LOSSES
from phasebench.model import build_model
from phasebench.spec import SystemSpec


def linalg_cross(a, b):
    """The earlier form: torch.linalg.cross on tensors broadcast to one shape."""
    a, b = torch.broadcast_tensors(a, b)
    return torch.linalg.cross(a, b, dim=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/cayley_cross_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec = SystemSpec("rigid_body", 3, ("z1", "z2", "z3"), False, 0.2)
    model = build_model("vpt", spec, {"window": 3, "layers": 3, "n_blocks": 2}, torch.float32)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    x, y = torch.randn(16384, 3, 3), torch.randn(16384, 3, 3)

    def step():
        adam.zero_grad(set_to_none=True)
        LOSSES["relative"](model.step(x), y).backward()
        adam.step()

    forms = {"torch.linalg.cross": linalg_cross, "written out": feature_major.cross}
    ms = {name: [] for name in forms}
    for _ in range(args.rounds):
        for name, cross in forms.items():
            feature_major.cross = cross
            for _ in range(3):
                step()
            start = time.process_time()
            for _ in range(args.steps):
                step()
            ms[name].append((time.process_time() - start) / args.steps * 1e3)
    feature_major.cross = forms["written out"]
    medians = {name: statistics.median(v) for name, v in ms.items()}
    for name, v in ms.items():
        print(f"{name:20s} median {medians[name]:.2f} ms CPU a step (min {min(v):.2f})")
    speedup = medians["torch.linalg.cross"] / medians["written out"]
    print(f"written out: {speedup:.2f}x")
    record = {"ms_cpu_per_step": ms, "median": medians, "speedup": speedup,
              "torch": torch.__version__, "machine": platform.platform()}  # fmt: skip
    Path(args.out).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()

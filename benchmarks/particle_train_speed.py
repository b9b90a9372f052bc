"""Training step time of the particle models on the EGNN N-body protocol (5 charges in 3D, batch
100, one CPU thread by default): the layers of a git revision (`--before`, the concatenated
edge MLP over all N² pairs) against the working tree's (the first edge layer factored per
particle, self-pairs skipped), eager and `torch.compile`d, in one run.

    python benchmarks/particle_train_speed.py [--before REV (default 91df641)]
        [--models NAME ...] [--steps N] [--threads N] [--no-compile] [--out FILE.json]

"Before" runs the same model objects with the revision's layer `forward`s swapped in (the
parameters, hence checkpoints, are the same tensors), so the step also checks that both
formulations give the same prediction (float64, printed as `max |Δ|`). A step is a forward
pass, the position MSE, a backward pass and one fused Adam update on random inputs; the first
`--warmup` steps (and the compile) are not timed, then the cases alternate for `--rounds`
rounds of `--steps` steps and each reports its median round: process CPU time per step (what
the step costs; with one thread little moved by other jobs) and wall time.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import torch

import phasebench.layers.particles as current
from phasebench.model import build_model
from phasebench.plugin_check import system_spec
from phasebench.system import build_system

REPO = Path(__file__).resolve().parents[1]
LAYERS = "src/phasebench/layers/particles.py"
SWAPPED = ("EGNNLayer", "MessagePassingLayer", "ParticleAttentionLayer")


def revision_layers(rev: str) -> types.ModuleType:
    """The particle layers module as it stands at git revision `rev`."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{LAYERS}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(f"particles_at_{rev}")
    exec(compile(source, f"{rev}:{LAYERS}", "exec"), module.__dict__)  # noqa: S102
    return module


def use_layers(model: torch.nn.Module, layers: types.ModuleType) -> None:
    """Run `model`'s particle layers with the `forward` of `layers` (same parameters)."""
    for sub in model.modules():
        for name in SWAPPED:
            if type(sub).__name__ == name:
                sub.forward = types.MethodType(getattr(layers, name).forward, sub)


def inputs(batch: int, dtype: torch.dtype, seed: int = 0):
    system = build_system("nbody_charged")
    rng = np.random.default_rng(seed)
    features = system.sample_features(rng, batch)
    states = system.with_features(features).sample_initial(rng, batch)
    window = torch.tensor(states, dtype=dtype)[:, None]
    target = window + 0.1 * torch.randn_like(window)
    return system_spec(system), window, torch.tensor(features, dtype=dtype), target


def step_function(model, window, features, target, compiled: bool):
    """One optimiser step of `model` (forward, position MSE, backward, fused Adam)."""
    half = model.spec.particles * model.spec.space_dim
    adam = torch.optim.Adam(model.parameters(), lr=5e-4, fused=True)

    def loss():
        return ((model(window, features) - target)[..., :half] ** 2).mean()

    step_loss = torch.compile(loss) if compiled else loss

    def step():
        adam.zero_grad(set_to_none=True)
        step_loss().backward()
        adam.step()

    return step


def timed(step, steps: int) -> tuple[float, float]:
    """Milliseconds per step: process CPU time (what the step costs, little moved by other
    jobs on a shared machine with one thread) and wall time."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    return 1000 * (time.process_time() - cpu) / steps, 1000 * (time.perf_counter() - wall) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The last revision with the concatenated edge MLP over all N² pairs.
    parser.add_argument("--before", default="91df641")
    parser.add_argument("--models", nargs="+", default=["egnn", "gnn", "particle_transformer"])
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()[0]  # the machine is shared: ratios in one run, not ms
    before = revision_layers(args.before)
    spec64, window64, features64, _ = inputs(4, torch.float64)
    spec, window, features, target = inputs(args.batch, torch.float32)
    rows = []
    for name in args.models:
        # Same prediction, same parameters: the revision's forward on the current model.
        model = build_model(name, spec64, {}, torch.float64)
        with torch.no_grad():
            after_out = model(window64, features64)
            use_layers(model, before)
            difference = (model(window64, features64) - after_out).abs().max().item()
        row = {"model": name, "max_abs_difference_float64": difference}
        cases = [("before", before, False), ("after", current, False)]
        if not args.no_compile:
            cases.append(("after_compiled", current, True))
        steps = {}
        for case, layers, compiled in cases:
            torch.manual_seed(0)
            model = build_model(name, spec, {}, torch.float32)
            use_layers(model, layers)
            steps[case] = step_function(model, window, features, target, compiled)
            warm = time.perf_counter()
            for _ in range(args.warmup):  # and the compile
                steps[case]()
            if compiled:
                row["compile_and_warmup_s"] = time.perf_counter() - warm
        # Cases alternate round by round, so that a change in the machine's load hits all.
        times = {case: [] for case in steps}
        for _ in range(args.rounds):
            for case, step in steps.items():
                times[case].append(timed(step, args.steps))
        for case, measured in times.items():
            row[f"{case}_ms_per_step"] = statistics.median(cpu for cpu, _ in measured)
            row[f"{case}_wall_ms_per_step"] = statistics.median(wall for _, wall in measured)
        row["speedup"] = row["before_ms_per_step"] / row["after_ms_per_step"]
        if "after_compiled_ms_per_step" in row:
            row["compiled_speedup_over_after"] = (
                row["after_ms_per_step"] / row["after_compiled_ms_per_step"]
            )
        rows.append(row)
        shown = "  ".join(
            f"{k.removesuffix('_ms_per_step')} {v:.1f} ms"
            for k, v in row.items()
            if k.endswith("_ms_per_step") and "wall" not in k
        )
        print(f"{name:<22} {shown}  ×{row['speedup']:.2f}  max |Δ| {difference:.1e}", flush=True)
    if args.out:
        settings = {k: v for k, v in vars(args).items() if k != "out"}
        machine = {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_1min": [load_at_start, os.getloadavg()[0]],
            "torch": torch.__version__,
        }
        args.out.write_text(
            json.dumps({"settings": settings, "machine": machine, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()

"""Cost against the number of particles N: seconds and peak memory of one training step
(forward, backward, Adam) and of one rollout step (a forward without gradients), batch 1, for
particle_transformer with full attention, with local attention (k nearest neighbours) and
egnn, on Lennard-Jones states (periodic box, density 0.7) at N = 64 … 4096, on this CPU.

Each (model, N) runs in a fresh process, so that its peak resident memory is its own (peak
minus the memory after the model is built). A size is skipped where the model's previous one
predicts more than `--limit-s` seconds per training step (time × 4 per doubling for the
quadratic models, × 2 for local) or more than `--limit-gb` of memory. Fitted exponents
(log time against log N, least squares over N ≥ 128, where fixed costs no longer dominate)
are printed and saved in benchmarks/results/particle_scaling.json, and a plot in
benchmarks/results/particle_scaling.png. Timings on a shared machine are noisy: compare
within one run.

    python benchmarks/particle_scaling.py [--sizes 64 128 … 4096] [--neighbours 16]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {
    "full attention": ("particle_transformer", {"neighbours": 0}, 2),
    "local attention": ("particle_transformer", {"neighbours": None}, 1),
    "egnn": ("egnn", {}, 2),
}
HPARAMS = {"particle_transformer": {"width": 64, "depth": 3, "heads": 4, "ff_width": 128}}
FIT_FROM = 128


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(plugin: str, hparams: dict, particles: int, repeat: int) -> dict:
    """One model at one N, in this process: seconds and extra peak memory per step."""
    import torch

    from phasebench.model import build_model
    from phasebench.plugin_check import system_spec
    from phasebench.system import build_system

    torch.manual_seed(0)
    system = build_system("lennard_jones", {"particles": particles})
    rng = np.random.default_rng(0)
    features = system.sample_features(rng, 1)
    state = system.with_features(features).sample_initial(rng, 1)
    model = build_model(plugin, system_spec(system), {**HPARAMS.get(plugin, {}), **hparams})
    window = torch.tensor(state, dtype=torch.float32)[:, None]
    given = torch.tensor(features, dtype=torch.float32)
    optimiser = torch.optim.Adam(model.parameters(), 1e-4)
    base = rss_mb()

    def timed(step) -> float:
        times = []
        for i in range(repeat + 1):  # the first call warms up
            start = time.perf_counter()
            step()
            if i:
                times.append(time.perf_counter() - start)
        return min(times)

    def rollout_step():
        with torch.no_grad():
            model(window, given)

    rollout_s = timed(rollout_step)
    rollout_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base

    def train_step():
        optimiser.zero_grad()
        loss = ((model(window, given) - window) ** 2).mean()
        loss.backward()
        optimiser.step()

    train_s = timed(train_step)
    train_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return {
        "rollout_step_s": rollout_s,
        "rollout_peak_mb": max(rollout_mb, 0.0),
        "train_step_s": train_s,
        "train_peak_mb": max(train_mb, 0.0),
    }


def exponent(sizes, values) -> float | None:
    """Slope of log value against log N over N ≥ FIT_FROM (None with fewer than 2 sizes)."""
    points = [(n, v) for n, v in zip(sizes, values, strict=True) if n >= FIT_FROM and v]
    if len(points) < 2:
        return None
    n, v = np.log(np.array(points)).T
    return float(np.polyfit(n, v, 1)[0])


def fit(results: dict) -> None:
    """Each model's fitted exponents, into `results["exponents"]`, and printed."""
    results["fit_from"] = FIT_FROM
    for name, rows in results["models"].items():
        sizes = [r["particles"] for r in rows]
        results["exponents"][name] = {
            key: exponent(sizes, [r[key] for r in rows])
            for key in ("train_step_s", "rollout_step_s", "train_peak_mb")
        }
        print(name, "exponents", results["exponents"][name], flush=True)


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, rows in results["models"].items():
        sizes = [r["particles"] for r in rows if "train_step_s" in r]
        for ax, key in zip(axes, ("train_step_s", "rollout_step_s", "train_peak_mb"), strict=True):
            ax.plot(sizes, [r[key] for r in rows if "train_step_s" in r], "o-", label=name)
    titles = ("training step (s)", "rollout step (s)", "training step peak memory (MB)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set(xscale="log", yscale="log", xlabel="particles N", title=title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle("Cost against N on this CPU (batch 1, Lennard-Jones, periodic box)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096]
    )
    parser.add_argument("--neighbours", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit-s", type=float, default=20.0)
    parser.add_argument("--limit-gb", type=float, default=6.0)
    parser.add_argument("--out", default="benchmarks/results/particle_scaling.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--refit", action="store_true", help="fit and plot --out again only")
    args = parser.parse_args()
    out = Path(args.out)
    if args.refit:
        results = json.loads(out.read_text())
        fit(results)
        out.write_text(json.dumps(results, indent=2))
        plot(results, out.with_suffix(".png"))
        return
    if args.worker:
        plugin, hparams, particles = json.loads(args.worker)
        print(json.dumps(worker(plugin, hparams, particles, args.repeat)))
        return

    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "threads": 1,
        "batch": 1,
        "hparams": HPARAMS,
        "neighbours": args.neighbours,
        "models": {},
        "skipped": [],
        "exponents": {},
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: the machine is shared
    for name, (plugin, hparams, growth) in MODELS.items():
        hparams = {k: args.neighbours if v is None else v for k, v in hparams.items()}
        rows, previous = [], None
        for particles in args.sizes:
            if previous is not None:
                ratio = particles / previous["particles"]
                seconds = previous["train_step_s"] * ratio**growth
                gigabytes = previous["train_peak_mb"] * ratio**growth / 1024
                if seconds > args.limit_s or gigabytes > args.limit_gb:
                    reason = (
                        f"{name} at N = {particles} skipped: one training step would take about "
                        f"{seconds:.0f} s and {gigabytes:.1f} GB (N^{growth} from N = "
                        f"{previous['particles']})"
                    )
                    results["skipped"].append(reason)
                    print(reason, flush=True)
                    break
            command = [sys.executable, __file__, "--repeat", str(args.repeat), "--worker"]
            command.append(json.dumps([plugin, hparams, particles]))
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            row = {"particles": particles, **json.loads(done.stdout.splitlines()[-1])}
            print(name, json.dumps(row), flush=True)
            rows.append(row)
            previous = row
        results["models"][name] = rows
    fit(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    plot(results, out.with_suffix(".png"))
    print(f"saved {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

"""Training step time of every model plugin: the fast path against the plain reference path in
one run, and how far each stands from this machine's floor.

    python benchmarks/train_throughput.py [--suite default|paper|all] [--device cpu|cuda]
        [--threads N] [--modes reference eager compiled cudagraphs] [--models NAME ...]
        [--steps-per-epoch N] [--long-run STEPS] [--out FILE.json]

Suites: `default`, every model of config.yaml at its size on the coupled oscillator with the
default batch (256); `paper`, the models of configs/vpt-rigid-body.yaml on the rigid body at
the paper's batch (16384). Each case trains through Lightning, as the pipeline does, on random
windows: the fast path (`PluginModule(fast=True)`), the reference path (`fast=False` under
`phasebench.fastpath.reference_path()`: plain layers, Adam one tensor at a time, per-step
logging), the fast path compiled (`compiled`) and compiled with CUDA graphs (`cudagraphs`,
GPU). The first epoch of each is a warm-up (and the compile) and is not timed. `--long-run`
trains the paper models for that many steps instead and extrapolates to the VPT paper's 500 000.

The floor of a step is the larger of (a) the bytes that must move, the windows and targets read
forward and backward, over the measured copy bandwidth, and (b) its arithmetic at this
machine's measured rates: matrix products (2mnk FLOPs each) at the rate
of a 512 × 512 product, element-wise work at the rate of an add, and transcendental functions
(tanh, exp, …) at the rate of tanh, all counted in one fast-path step by a dispatch mode.
"""

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.data import TensorDataset

from phasebench.config import resolve
from phasebench.fastpath import reference_path
from phasebench.spec import SystemSpec
from phasebench.training import PluginModule, window_loader

REPO = Path(__file__).resolve().parents[1]
SUITES = {
    # suite: (config file, system spec, steps per timed epoch)
    "default": (
        "config.yaml",
        SystemSpec("coupled_oscillator", 4, ("q1", "q2", "p1", "p2"), True, 0.4),
        30,
    ),
    "paper": (
        "configs/vpt-rigid-body.yaml",
        SystemSpec("rigid_body", 3, ("z1", "z2", "z3"), False, 0.2),
        6,
    ),
}
TRANSCENDENTAL = {"tanh", "exp", "sigmoid", "log", "sin", "cos", "softmax", "_softmax", "expm1"}
MATMUL = {"mm", "addmm", "bmm", "baddbmm"}
VIEWS = (
    "view",
    "_unsafe_view",
    "as_strided",
    "detach",
    "t",
    "transpose",
    "permute",
    "expand",
    "unsqueeze",
    "squeeze",
    "slice",
    "select",
    "split",
    "chunk",
    "reshape",
    "alias",
    "empty",
)
WARMUP_EPOCHS, TIMED_EPOCHS = 1, 4
PAPER_STEPS = 500_000  # the VPT paper's schedule


class EpochClock(pl.Callback):
    """Wall time of every training epoch."""

    def __init__(self, device):
        self.device, self.times = device, []

    def on_train_epoch_start(self, trainer, module):
        sync(self.device)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        sync(self.device)
        self.times.append(time.perf_counter() - self.start)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def epoch_times(module, loader, device, epochs=WARMUP_EPOCHS + TIMED_EPOCHS) -> list[float]:
    clock = EpochClock(device)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=device,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    return clock.times


class OpCounter(TorchDispatchMode):
    """FLOPs of matrix products, and elements produced by element-wise and by transcendental
    operations, of everything run under it."""

    def __init__(self):
        super().__init__()
        self.matmul_flops = self.elementwise = self.transcendental = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if name in MATMUL:
            a = args[1] if name in ("addmm", "baddbmm") else args[0]
            self.matmul_flops += 2 * outputs[0].numel() * a.shape[-1]
        elif name.rstrip("_") in TRANSCENDENTAL:
            self.transcendental += sum(t.numel() for t in outputs)
        elif not name.startswith(VIEWS):
            self.elementwise += sum(t.numel() for t in outputs)
        return out


def machine_rates(device) -> dict:
    """This machine's rates, measured now: matmul FLOP/s, add and tanh elements/s, copy B/s."""

    def per_second(fn, work, repeat=50):
        fn()
        sync(device)
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        sync(device)
        return work * repeat / (time.perf_counter() - start)

    a = torch.randn(512, 512, device=device)
    x, out = torch.randn(147456, device=device), torch.empty(147456, device=device)
    big = torch.empty(16 * 2**20, device=device)  # 64 MB, beyond the caches
    big_out = torch.empty_like(big)
    return {
        "matmul_flop_per_s": per_second(lambda: a @ a, 2 * 512**3),
        "add_elements_per_s": per_second(lambda: torch.add(x, x, out=out), x.numel(), 500),
        "tanh_elements_per_s": per_second(lambda: torch.tanh(x, out=out), x.numel(), 200),
        "copy_bytes_per_s": per_second(lambda: big_out.copy_(big), 2 * big.numel() * 4, 10),
    }


def floor_ms(module, window, target, rates) -> dict:
    """The step's floor: max(bytes that must move / bandwidth, arithmetic / rates)."""
    counter = OpCounter()
    with counter:
        module.step_fn(window, target).backward()
    module.zero_grad(set_to_none=True)
    arithmetic = (
        counter.matmul_flops / rates["matmul_flop_per_s"]
        + counter.elementwise / rates["add_elements_per_s"]
        + counter.transcendental / rates["tanh_elements_per_s"]
    )
    moved = 2 * (window.numel() + target.numel()) * window.element_size()
    return {
        "floor_ms": 1000 * max(arithmetic, moved / rates["copy_bytes_per_s"]),
        "matmul_flops": counter.matmul_flops,
        "elementwise_elements": counter.elementwise,
        "transcendental_elements": counter.transcendental,
        "bytes_moved": moved,
    }


def cases(suite: str):
    config_file, spec, steps = SUITES[suite]
    plan = resolve(yaml.safe_load((REPO / config_file).read_text()), source=config_file)
    for name, model in plan["models"].items():
        if all(r in ("canonical",) and spec.canonical for r in model["requires"]):
            yield name, model, spec, steps


def module_for(model, spec, training, mode):
    settings = {**training, "compile": mode in ("compiled", "cudagraphs")}
    if mode == "cudagraphs":
        settings["compile_mode"] = "reduce-overhead"
    torch.manual_seed(0)
    fast = mode != "reference"
    return PluginModule(model["plugin"], model["hparams"], spec.to_dict(), settings, fast)


def run_case(name, model, spec, steps, device, modes, rates) -> dict:
    training = model["training"]
    batch = training["batch_size"]
    torch.manual_seed(0)
    n = batch * steps
    module = PluginModule(model["plugin"], model["hparams"], spec.to_dict(), training)
    k, m = module.model.input_steps, module.model.output_steps
    data = TensorDataset(
        torch.randn(n, k, spec.dim, device=device), torch.randn(n, m, spec.dim, device=device)
    )
    loader = window_loader(data, batch, shuffle=True)
    window, target = data[:batch]
    result = {
        "plugin": model["plugin"],
        "hparams": model["hparams"],
        "batch": batch,
        "steps_per_epoch": steps,
    }
    result |= floor_ms(module.to(device), window, target, rates)
    for mode in modes:
        module = module_for(model, spec, training, mode)
        with reference_path() if mode == "reference" else contextlib.nullcontext():
            times = epoch_times(module, loader, device)
        timed = sorted(times[WARMUP_EPOCHS:])
        steady = timed[len(timed) // 2]  # median epoch after the warm-up
        result[mode] = {
            "ms_per_step": 1000 * steady / steps,
            "samples_per_s": batch * steps / steady,
            "first_epoch_s": times[0],
        }
    fast = min(result[m]["ms_per_step"] for m in modes if m != "reference")
    result["speedup"] = result["reference"]["ms_per_step"] / fast
    result["fast_over_floor"] = fast / result["floor_ms"]
    return result


def long_run(args, mode):
    """Train each chosen model of the paper suite for `args.long_run` steps in one mode and
    extrapolate its wall time to the VPT paper's schedule."""
    report = {"device": device_name(args.device), "mode": mode, "torch": torch.__version__}
    for name, model, spec, steps in cases("paper"):
        if args.models and name not in args.models:
            continue
        steps = args.steps_per_epoch or steps
        training, batch = model["training"], model["training"]["batch_size"]
        module = module_for(model, spec, training, mode)
        k, m = module.model.input_steps, module.model.output_steps
        n = batch * steps
        data = TensorDataset(
            torch.randn(n, k, spec.dim, device=args.device),
            torch.randn(n, m, spec.dim, device=args.device),
        )
        epochs = -(-args.long_run // steps)
        start = time.perf_counter()
        times = epoch_times(module, window_loader(data, batch, True), args.device, epochs)
        wall = time.perf_counter() - start
        steady = sum(times[1:]) / (steps * (len(times) - 1))  # seconds a step, after epoch 1
        report[name] = {
            "steps": epochs * steps,
            "wall_s": wall,
            "first_epoch_s": times[0],
            "ms_per_step": 1000 * steady,
            "paper_500k_steps_h": (times[0] + steady * (PAPER_STEPS - steps)) / 3600,
        }
        print(
            f"{name}: {epochs * steps} steps in {wall:.1f} s, {1000 * steady:.3f} ms a step; "
            f"500 000 steps: {report[name]['paper_500k_steps_h']:.2f} h",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.out}")


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (a pipeline job's default: 1)"
    )
    parser.add_argument(
        "--modes",
        nargs="*",
        choices=["reference", "eager", "compiled", "cudagraphs"],
        help="default: reference eager (CPU); reference eager compiled cudagraphs (GPU)",
    )
    parser.add_argument("--steps-per-epoch", type=int, help="default: 30 (batch 256), 6 (16384)")
    parser.add_argument("--models", nargs="*", help="only these model names")
    parser.add_argument(
        "--long-run",
        type=int,
        metavar="STEPS",
        help="instead: train each chosen model STEPS optimiser steps in the last mode, and "
        "extrapolate to the VPT paper's 500 000",
    )
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modes = args.modes or (
        ["reference", "eager", "compiled", "cudagraphs"]
        if args.device == "cuda"
        else ["reference", "eager"]
    )
    if args.long_run:
        return long_run(args, modes[-1])
    rates = machine_rates(args.device)
    report = {
        "device": device_name(args.device),
        "threads": args.threads,
        "torch": torch.__version__,
        "rates": rates,
        "cases": {},
    }
    print(
        f"{'suite/model':34s} {'batch':>6s} "
        + " ".join(f"{m:>11s}" for m in modes)
        + "  speed-up  floor  fast/floor"
    )
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    for suite in suites:
        totals = dict.fromkeys(modes, 0.0)
        for name, model, spec, steps in cases(suite):
            steps = args.steps_per_epoch or steps
            if args.models and name not in args.models:
                continue
            result = run_case(name, model, spec, steps, args.device, modes, rates)
            report["cases"][f"{suite}/{name}"] = result
            for mode in modes:
                totals[mode] += result[mode]["ms_per_step"]
            times = " ".join(f"{result[m]['ms_per_step']:8.2f} ms" for m in modes)
            ratios = f"{result['speedup']:6.2f}x {result['floor_ms']:6.2f}"
            print(
                f"{suite + '/' + name:34s} {result['batch']:6d} {times}  {ratios}"
                f"  {result['fast_over_floor']:6.1f}x",
                flush=True,
            )
        # Every model of a suite trains on the same windows at the same batch, so the sum of
        # their step times is the suite's training time up to one factor (steps × epochs × seeds).
        report[f"{suite}_total_ms_per_step"] = totals
        best = min(v for k, v in totals.items() if k != "reference")
        print(
            f"{suite + ' (sum of all models)':34s} {'':6s} "
            + " ".join(f"{totals[m]:8.2f} ms" for m in modes)
            + f"  {totals['reference'] / best:6.2f}x"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()

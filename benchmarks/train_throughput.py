"""Training throughput (samples/s) of a model plugin: phasebench's Lightning wrapper against a
plain PyTorch loop on the same model, optimiser, loss and batches.

    python benchmarks/train_throughput.py [--plugin transformer] [--batch 16384]
        [--steps-per-epoch 8] [--epochs 6] [--device cpu|cuda] [--threads N]
        [--out benchmarks/results/train_throughput.json]

The default is the VPT paper's softmax transformer (d = 3, T = 3, L = 3, one head) with the
paper's batch of 16384 and Adam. The first epoch of each is a warm-up and is not timed.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import TensorDataset

from phasebench.config import resolve
from phasebench.losses import LOSSES
from phasebench.model import build_model
from phasebench.spec import SystemSpec
from phasebench.training import PluginModule, window_loader

PAPER_TRANSFORMER = {
    "window": 3,
    "depth": 3,
    "heads": 1,
    "embed": 0,
    "ff_width": 0,
    "add_connection": False,
}


class EpochClock(pl.Callback):
    """Wall time of every training epoch."""

    def __init__(self, device):
        self.device, self.times = device, []

    def on_train_epoch_start(self, trainer, module):
        _sync(self.device)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        _sync(self.device)
        self.times.append(time.perf_counter() - self.start)


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def batches(spec, window, n, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, window, spec.dim, generator=g)
    targets = torch.randn(n, window, spec.dim, generator=g)
    return window_loader(TensorDataset(inputs, targets), batch, shuffle=True)


def plain_loop(plugin, hparams, spec, training, loader, epochs, device):
    torch.manual_seed(0)
    model = build_model(plugin, spec, hparams).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=training["lr"])
    loss_fn = LOSSES[training["loss"]]
    times = []
    for _ in range(epochs):
        _sync(device)
        start = time.perf_counter()
        for window, target in loader:
            window, target = window.to(device), target.to(device)
            loss = loss_fn(model(window), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def lightning_loop(plugin, hparams, spec, training, loader, epochs, device):
    torch.manual_seed(0)
    module = PluginModule(plugin, hparams, spec.to_dict(), training)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="transformer")
    parser.add_argument("--hparams", default=json.dumps(PAPER_TRANSFORMER))
    parser.add_argument("--dim", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16384)
    parser.add_argument("--steps-per-epoch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    hparams = json.loads(args.hparams)
    names = tuple(f"x{i}" for i in range(args.dim))
    spec = SystemSpec(name="benchmark", dim=args.dim, state_names=names, canonical=False, dt=0.1)
    model_entry = resolve({"models": [args.plugin]})["models"][args.plugin]
    training = model_entry["training"] | {"loss": "relative", "lr": 1e-3}
    window = hparams.get("window", 3)
    loader = batches(spec, window, args.batch * args.steps_per_epoch, args.batch)
    samples = args.batch * args.steps_per_epoch
    result = {
        "plugin": args.plugin,
        "hparams": hparams,
        "batch": args.batch,
        "steps_per_epoch": args.steps_per_epoch,
        "timed_epochs": args.epochs - 1,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor(),
        "threads": args.threads,
        "torch": torch.__version__,
    }
    for name, run in (("plain_pytorch", plain_loop), ("lightning", lightning_loop)):
        times = run(args.plugin, hparams, spec, training, loader, args.epochs, args.device)
        steady = sorted(times[1:])[len(times[1:]) // 2]  # median epoch after the warm-up
        result[name] = {
            "samples_per_s": samples / steady,
            "ms_per_step": 1000 * steady / args.steps_per_epoch,
            "epoch_s": times,
        }
        rate, ms = samples / steady, result[name]["ms_per_step"]
        print(f"{name:14s} {rate:12.0f} samples/s  {ms:.1f} ms/step")
    result["lightning_over_plain"] = (
        result["lightning"]["samples_per_s"] / result["plain_pytorch"]["samples_per_s"]
    )
    print(f"Lightning / plain loop: {result['lightning_over_plain']:.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()

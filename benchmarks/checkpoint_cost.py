"""What a long run's checkpoints cost, before and after `ResumeCheckpoint`.

A run's resume checkpoint carries one row per finished epoch, so its size grows with the run.
Before, Lightning wrote it after every epoch, and `best.ckpt` (a full checkpoint too, rows
included) after every improving epoch, which is most epochs of the VPT paper's schedule. Now
`best.ckpt` holds the weights only and `resume.ckpt` waits `ResumeCheckpoint.PAUSE` times its
last write. This script times real `trainer.save_checkpoint` calls of the paper's `vpt` with
histories of growing length, and adds them up over a run of 83 334 epochs (500 004 steps):

    python benchmarks/checkpoint_cost.py [--epochs 83334] [--epoch-s 0.17] [--out FILE]

The sums are a model, not a timed run: every epoch is taken to improve (an upper bound for the
old `best.ckpt`), and the new resume writes follow the PAUSE rule with each write's measured
time (interpolated between measured lengths) against the measured seconds an epoch of training.
Nothing here is asserted.
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from phasebench.training import PluginModule, ResumeCheckpoint

# The rigid body as the paper's `vpt` is told it (z = (z1, z2, z3), not canonical, h = 0.2).
SPEC = {
    "name": "rigid_body",
    "dim": 3,
    "state_names": ["z1", "z2", "z3"],
    "canonical": False,
    "dt": 0.2,
}


def row(epoch: int) -> dict:
    """A history row as `PluginModule` keeps it."""
    return {
        "epoch": epoch,
        "step": 6 * epoch,
        "train_loss": 1e-3 / (epoch + 1),
        "val_loss": 1.1e-3 / (epoch + 1),
        "lr": 1e-2 * 1e-4 ** (epoch / 83334),
        "wall_s": 0.17 * epoch,
    }


def write_seconds(trainer, module, rows: int, weights_only: bool, folder: Path) -> float:
    module.history = [row(i) for i in range(rows)]
    best = []
    for _ in range(3):
        start = time.perf_counter()
        trainer.save_checkpoint(folder / "x.ckpt", weights_only=weights_only)
        best.append(time.perf_counter() - start)
    return min(best)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=83334)
    parser.add_argument("--epoch-s", type=float, default=0.17, help="training seconds an epoch")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/checkpoint_cost.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    training = {
        "loss": "relative", "precision": "32", "lr": 1e-2, "lr_end": 1e-6,
        "lr_decay_steps": 500000, "lr_reduce_patience": None, "betas": [0.9, 0.99],
        "eps": 1e-8, "compile": "auto", "compile_mode": "default",
    }  # fmt: skip
    hparams = {"window": 3, "layers": 3, "n_blocks": 2}
    module = PluginModule("vpt", hparams, SPEC, training)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.optimizers = [torch.optim.Adam(module.parameters())]
    lengths = [1000, 10000, 30000, 60000, args.epochs]
    with tempfile.TemporaryDirectory() as tmp:
        full = [write_seconds(trainer, module, n, False, Path(tmp)) for n in lengths]
        weights = [write_seconds(trainer, module, n, True, Path(tmp)) for n in lengths]
    epochs = np.arange(args.epochs)
    full_at = np.interp(epochs, lengths, full)
    weights_at = np.interp(epochs, lengths, weights)
    before = float(2 * full_at.sum())  # resume and best, every epoch
    # After: best (weights only) every epoch; resume after an epoch once PAUSE × its last write
    # has passed, counting training and writing time.
    after, next_write, clock = float(weights_at.sum()), 0.0, 0.0
    writes = 0
    for e in epochs:
        clock += args.epoch_s + weights_at[e]
        if clock >= next_write:
            clock += full_at[e]
            after += full_at[e]
            next_write = clock + ResumeCheckpoint.PAUSE * full_at[e]
            writes += 1
    training_s = args.epochs * args.epoch_s
    report = {
        "epochs": args.epochs,
        "epoch_training_s": args.epoch_s,
        "history_rows": lengths,
        "full_checkpoint_write_s": full,
        "weights_only_write_s": weights,
        "before_checkpoint_s": before,
        "after_checkpoint_s": after,
        "after_resume_writes": writes,
        "training_s": training_s,
        "before_fraction_of_training": before / training_s,
        "after_fraction_of_training": after / training_s,
        "torch": torch.__version__,
        "machine": platform.platform(),
    }
    for n, f, w in zip(lengths, full, weights, strict=True):
        print(f"{n:>6} rows: full checkpoint {f * 1e3:7.1f} ms, weights only {w * 1e3:5.1f} ms")
    print(
        f"{args.epochs} epochs of {args.epoch_s} s: checkpoints {before / 3600:.2f} h before "
        f"({before / training_s:.0%} of training), {after / 3600:.3f} h after "
        f"({after / training_s:.1%}; {writes} resume writes)"
    )
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Why the image study's ViTs vary so much on the sequential 50/50 split: per seed, the training
loss of every epoch, the clean training accuracy and the held-out accuracy every few epochs, and
the softmax attention's sharpness (the class token's attention entropy over log T).

    python benchmarks/vision_sequential.py --models vit_softmax --seeds 0 1 2 3 4
        [--split validation|fit|sequential] [--set lr=0.003 shift=0 ...] [--every 5]
        [--out benchmarks/results/vision_sequential.json]

`validation` (the default) never touches the test half: it trains on the first 599 images of
the sequential training half and holds out the last 299 (other writers, as the test half has),
with as many optimiser steps as the study. `fit` trains on the whole training half and
measures only how well it fits it; `sequential` scores the test half (for the diagnosis of the
study's own settings, not for choosing them). Settings are the schema's defaults with `--set`
overrides; `--set` also takes remedies the study does not use (none helped on validation,
README): label_smoothing=0.1, ema=0.995 (the evaluated weights are an exponential moving
average), rotate=6 zoom=0.05 (random rotations in degrees and scalings before the shifts),
pool=mean (the mean token instead of the class token). Runs are appended to `--out`. Nothing
here is asserted.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from phasebench.layers import MultiHeadAttention
from phasebench.layers.feature_major import plain_layers
from phasebench.studies.vision import study
from phasebench.studies.vision.data import digits, split
from phasebench.studies.vision.train import fit, score


def halves(kind: str, labels):
    """Train and held-out indices: the study's sequential split; its training half alone
    (`fit`: nothing held out, only the fit is measured); or its training half cut 2/3 : 1/3
    in order (`validation`; neither sees the test half)."""
    train, test = split("sequential", labels)
    if kind == "sequential":
        return train, test
    if kind == "fit":
        return train, train[:0]
    cut = round(len(train) * 2 / 3)
    return train[:cut], train[cut:]


@torch.no_grad()
def cls_entropy(model, images) -> list[float]:
    """Mean entropy of the class token's softmax attention in each layer, over log T (1: uniform
    over the tokens, 0: one token); [] for the linear kernels."""
    seen = []
    hooks = [
        m.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
        for m in model.modules()
        if isinstance(m, MultiHeadAttention)
    ]
    model.eval()
    with plain_layers():
        model(images)
    for h in hooks:
        h.remove()
    attentions = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    if any(a.kernel.kernel != "softmax" for a in attentions):
        return []
    out = []
    for x, attention in zip(seen, attentions, strict=True):
        heads = len(attention.query)
        q = x @ torch.cat([p.weight for p in attention.query]).T
        k = x @ torch.cat([p.weight for p in attention.key]).T
        q, k = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k))  # (B, h, T, d/h)
        weights = (attention.scale * q[:, :, :1] @ k.transpose(-1, -2)).softmax(-1)
        entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)
        out.append((entropy.mean() / math.log(x.shape[1])).item())
    return out


def one_run(name, seed, kind, settings, every):
    images, labels = digits()
    train, held = halves(kind, labels)
    torch.manual_seed(seed)
    pixels = study.pixel_stats(images[train])
    model = study.build(name, settings, pixels, pool=settings.get("pool", "cls"))
    epochs = study.steps_epochs(settings["epochs"], len(train), len(labels))
    curve = []

    def accuracy(part, shift=0):
        if not len(part):
            return {"accuracy": math.nan, "single_view": math.nan}
        return score(model, images[part], labels[part], shift=shift)

    def after_epoch(epoch):
        if (epoch + 1) % every == 0 or epoch + 1 == epochs:
            curve.append(
                {
                    "epoch": epoch + 1,
                    "train": accuracy(train)["accuracy"],
                    "held": accuracy(held)["accuracy"],
                }
            )

    start = time.process_time()
    _, losses = fit(
        model, images[train], labels[train], epochs=epochs, lr=settings["lr"],
        batch_size=settings["batch_size"], seed=seed, shift=settings["shift"],
        weight_decay=settings["weight_decay"], after_epoch=after_epoch,
        label_smoothing=settings.get("label_smoothing", 0.0), ema=settings.get("ema", 0.0),
        rotate=settings.get("rotate", 0.0), zoom=settings.get("zoom", 0.0),
    )  # fmt: skip
    held_score = accuracy(held, settings["test_shift"])
    train_score = accuracy(train, settings["test_shift"])
    return {
        "model": name,
        "seed": seed,
        "split": kind,
        "epochs": epochs,
        "held": held_score["accuracy"],
        "held_one_view": held_score["single_view"],
        "train": train_score["accuracy"],
        "train_one_view": train_score["single_view"],
        "final_loss": losses[-1],
        "losses": losses,
        "curve": curve,
        "cls_entropy": cls_entropy(model, images[held if len(held) else train]),
        "cpu_s": time.process_time() - start,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vit_softmax"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--split", choices=["validation", "fit", "sequential"], default="validation"
    )
    parser.add_argument("--set", nargs="*", default=[], help="key=value overrides")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", default="benchmarks/results/vision_sequential.json")
    args = parser.parse_args()
    settings = study.settings_with(args.set)
    overrides = dict(item.split("=", 1) for item in args.set)  # recorded as given
    torch.set_num_threads(1)  # as each run of the study
    out = Path(args.out)
    records = json.loads(out.read_text()) if out.exists() else []
    for name in args.models:
        for seed in args.seeds:
            row = one_run(name, seed, args.split, settings, args.every)
            row |= {"overrides": overrides, "tag": args.tag}
            records.append(row)
            out.write_text(json.dumps(records, indent=1))
            curve_key = "train" if args.split == "fit" else "held"
            print(
                f"{args.tag or overrides} {name} seed {seed} {args.split}: held "
                f"{100 * row['held']:.2f} (one view {100 * row['held_one_view']:.2f}), train "
                f"{100 * row['train_one_view']:.2f}, loss {row['final_loss']:.3f}, entropy "
                f"{np.round(row['cls_entropy'], 2).tolist()}, curve (held, else train) "
                f"{[round(100 * c[curve_key], 1) for c in row['curve']]}, "
                f"{row['cpu_s']:.1f} CPU s",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Tables, plots and captions of the image study's page (the notebook only calls these)."""

import math

import matplotlib.pyplot as plt
import pandas as pd

from phasebench.studies.vision.baselines import BASELINES

SPLIT_NAMES = {
    "random": "Stratified random 80/20 split",
    "sequential": "Sequential 50/50 split (first half trains, second half tests)",
}


def introduction(settings: dict) -> str:
    return (
        "# Image study: ViT, Performer kernels and Stiefel weights on handwritten digits\n\n"
        "scikit-learn's `load_digits`: 1797 images of 8×8 pixels, values scaled to [0, 1]. "
        f"Vision transformers of width {settings['width']}, {settings['depth']} layers and "
        f"{settings['heads']} heads read 16 overlapping 4×4 patches (stride 2) and classify a "
        "class token, with a LayerNorm on the tokens entering "
        + ("every layer" if settings["layer_norms"] == "every" else "the body")
        + " and on the class token entering the head; they differ only in their attention: "
        "softmax, Performer-ReLU, "
        f"Performer-exp, FAVOR+ and a learned f_θ (m = {settings['features']} features), and "
        "softmax with Stiefel (orthonormal) projections. The deep no-skip models follow "
        "GeometricMachineLearning.jl's MNIST transformer scaled to 8×8: the 16 overlapping "
        f"4×4 patches as tokens (no embedding, no positions), {settings['deep_depth']} layers "
        "of 4 heads with no skip connection around attention (scores not divided by √d) and "
        "x + tanh(Wx + b) between, the last token classified; Stiefel against unconstrained "
        "projections. Unlike GML, the deep models standardise the pixels (the training "
        "images' mean and standard deviation): every image's tokens collapse to one vector "
        "by the 4th layer, and on raw non-negative pixels that vector is nearly the same for "
        "every image. Stiefel projections start as random orthonormal bases and are trained by "
        "Adam on the manifold (geoopt's Riemannian Adam, as GML trains them), every other "
        "weight by AdamW."
    )


def table_caption(settings: dict) -> str:
    deep = [s for s in settings["seeds"] if s in settings["deep_seeds"]]
    return (
        f"Mean ± standard deviation over seeds ({len(settings['seeds'])} random splits, "
        f"{len(settings['sequential_seeds'])} initialisations on the sequential split; the "
        f"deep models on {len(deep)} of the random splits only); ViTs trained "
        f"{settings['epochs']} epochs, deep models {settings['deep_epochs']} (the sequential "
        "split's 898 images train as many steps as a random split's 1437), batch "
        f"{settings['batch_size']}, AdamW (weight decay {settings['weight_decay']}) with a "
        f"one-cycle learning rate peaking at {settings['lr']}, random shifts of up to "
        f"{settings['shift']} pixel(s) (the ViTs only). A ViT's accuracy is a test-time "
        "average: class probabilities averaged over every shift of a test image by up to "
        f"{settings['test_shift']} pixel(s) ({(2 * settings['test_shift'] + 1) ** 2} views; "
        "'one view %' is the image as it is, the only view of the other models); 'train %' "
        "is the accuracy on the model's own unshifted training images, one view (mean, and "
        "the lowest run in brackets): a low one means the training under-fitted (with the "
        "default settings the softmax and Stiefel ViTs under-fit the sequential split's 898 "
        "images in some seeds, which is what makes their accuracy there vary between seeds; "
        "the settings were not tuned on the test half, README: 'Why the sequential split "
        "varies'); "
        f"one torch thread a run, {settings['workers']} run(s) at once. Train images/s counts "
        "every epoch; test "
        "images/s is inference on the test set, every view. The baselines are deterministic "
        "per split."
    )


def _percent(mean: float, std: float) -> str:
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def accuracy_table(part: pd.DataFrame) -> pd.DataFrame:
    """One split's rows, best accuracy first, formatted for the page."""
    part = part.sort_values("accuracy", ascending=False)
    return pd.DataFrame(
        {
            "model": part.model,
            "accuracy %": [
                _percent(m, s) for m, s in zip(part.accuracy, part.accuracy_std, strict=True)
            ],
            "one view %": [f"{100 * a:.2f}" for a in part.single_view],
            # clean training images, one view: mean (lowest run)
            "train %": [
                f"{100 * a:.2f} ({100 * b:.2f})"
                for a, b in zip(part.train_accuracy, part.train_accuracy_min, strict=True)
            ],
            "runs": part.runs,
            "diverged": part.diverged.astype(int),
            "parameters": [
                "—" if p is None or math.isnan(p) else f"{int(p):,}" for p in part.params
            ],
            "train s": part.train_s.map(lambda s: f"{s:.2f}"),
            "train images/s": part.train_images_per_s.map(lambda r: f"{r:,.0f}"),
            "test images/s": part.test_images_per_s.map(lambda r: f"{r:,.0f}"),
        }
    )


def plot_accuracy(table: pd.DataFrame):
    """Accuracy ± std of every model, one panel per split; baselines in grey."""
    splits = list(dict.fromkeys(table.split))
    fig, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4), squeeze=False)
    for ax, split_kind in zip(axes[0], splits, strict=True):
        part = table[table.split == split_kind]
        colours = ["0.6" if m in BASELINES else "C0" for m in part.model]
        ax.barh(part.model, 100 * part.accuracy, xerr=100 * part.accuracy_std, color=colours)
        ax.set(xlabel="test accuracy %", title=SPLIT_NAMES[split_kind].split(" (")[0])
        ax.set_xlim(max(0, 100 * part.accuracy.min() - 5), 100)
        ax.invert_yaxis()
    fig.tight_layout()
    plt.show()


def goal_table(goals: pd.DataFrame) -> pd.DataFrame:
    def value(row):
        if math.isnan(row.measured):
            return "not run"
        if row.target.startswith("gap"):
            return f"{100 * row.measured:+.2f} points"
        return f"{100 * row.measured:.2f} %"

    return pd.DataFrame(
        {
            "goal": goals.goal,
            "target": goals.target,
            "measured": [value(r) for r in goals.itertuples()],
            "met": [
                "—" if math.isnan(r.measured) else ("yes" if r.met else "NO")
                for r in goals.itertuples()
            ],
        }
    )


def deep_caption(settings: dict) -> str:
    return (
        "## The deep no-skip models while training\n\n"
        "Mean training loss per epoch (each seed a line). Without a skip connection every "
        "layer's attention output replaces its input: orthonormal projections keep the "
        "tokens' scale through all layers, unconstrained ones are free to shrink or blow it up."
    )


def plot_losses(rows: pd.DataFrame):
    deep = rows[rows.model.str.startswith("deep_") & (rows.split == "random")]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, part) in enumerate(deep.groupby("model", sort=False)):
        for j, losses in enumerate(part.losses):
            ax.plot(range(1, len(losses) + 1), losses, color=f"C{i}", label=None if j else name)
    ax.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log")
    ax.legend()
    fig.tight_layout()
    plt.show()


def footer(wall_s: float, settings: dict) -> str:
    import torch

    import phasebench

    return (
        f"---\nThe study took {wall_s:.0f} s ({settings['workers']} run(s) at once, torch "
        f"{torch.__version__}); phasebench {phasebench.__version__}."
    )

"""The handwritten digits of scikit-learn (1797 images of 8×8, shipped inside the package, so
nothing is downloaded) and the two splits of the image study."""

import math

import numpy as np
import torch

SPLITS = ("random", "sequential")
TEST_FRACTION = 0.2  # of the random split


def random_train_size(n: int) -> int:
    """Training images of a random split of `n` (scikit-learn rounds the test part up)."""
    return n - math.ceil(TEST_FRACTION * n)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 8, 8) scaled to [0, 1] (the raw values count 0…16) and labels (N,)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.as_tensor(data.images / 16.0, dtype=torch.float32)
    return images, torch.as_tensor(data.target, dtype=torch.long)


def split(kind: str, labels: torch.Tensor, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices.

    random: stratified 80/20, drawn with `seed`. sequential: the first half of the images
    (in the order scikit-learn stores them) trains and the second half tests, unshuffled, as
    in scikit-learn's digits classification example; it has no randomness.
    """
    n = len(labels)
    if kind == "sequential":
        return np.arange(n // 2), np.arange(n // 2, n)
    if kind != "random":
        raise ValueError(f"unknown split {kind!r}: expected one of {', '.join(SPLITS)}")
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(n), test_size=TEST_FRACTION, stratify=labels.numpy(), random_state=seed
    )
    return np.sort(train), np.sort(test)

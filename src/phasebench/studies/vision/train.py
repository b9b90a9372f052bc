"""Training and scoring of one image classifier: a plain PyTorch loop, since a run is seconds
long, keeps nothing on disk and needs none of the pipeline's checkpointing and resuming."""

import time

import torch
import torch.nn.functional as F

from phasebench.layers.feature_major import plain_layers


def shifted(images: torch.Tensor, g: torch.Generator, most: int) -> torch.Tensor:
    """Each image moved by up to `most` pixels in each direction, zeros filling in (the
    digits' background); `most = 0` leaves them as they are."""
    if not most:
        return images
    b, h, w = images.shape
    padded = F.pad(images, (most, most, most, most))
    rows, cols = torch.randint(0, 2 * most + 1, (2, b), generator=g)
    i = rows[:, None] + torch.arange(h)  # (B, H) rows of each crop
    j = cols[:, None] + torch.arange(w)
    return padded[torch.arange(b)[:, None, None], i[:, :, None], j[:, None, :]]


def decay_groups(model, weight_decay):
    """Weight decay for every parameter but the free parameters behind Stiefel weights: decaying
    those drove torch's orthogonal parametrisation to all-zero weights, no longer orthonormal
    (measured: every Stiefel model then scored chance)."""
    stiefel = [p for n, p in model.named_parameters() if ".parametrizations." in n]
    chosen = {id(p) for p in stiefel}
    rest = [p for p in model.parameters() if id(p) not in chosen]
    return [
        {"params": rest, "weight_decay": weight_decay},
        {"params": stiefel, "weight_decay": 0.0},
    ]


def fit(model, images, labels, *, epochs, lr, batch_size, seed, shift=0, weight_decay=0.0):
    """Adam(W) with a one-cycle learning rate (warm-up, then cosine decay to ~0), cross-entropy,
    random shifts. Returns the seconds spent training and the mean loss of every epoch."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(decay_groups(model, weight_decay), lr=lr)
    steps = epochs * -(-len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
    model.train()
    losses = []
    start = time.perf_counter()
    # Softmax attention on the plain path: scaled_dot_product_attention beats the feature-major
    # form (made for 3- to 6-dimensional states) at these widths.
    with plain_layers():
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=g)
            total = torch.zeros(())
            for batch in order.split(batch_size):
                loss = F.cross_entropy(model(shifted(images[batch], g, shift)), labels[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                total += loss.detach() * len(batch)
            losses.append(total.item() / len(images))
    return time.perf_counter() - start, losses


@torch.no_grad()
def score(model, images, labels, batch_size=512):
    """Test accuracy and inference images per second."""
    model.eval()
    start = time.perf_counter()
    with plain_layers():
        predicted = torch.cat([model(x).argmax(-1) for x in images.split(batch_size)])
    seconds = time.perf_counter() - start
    return (predicted == labels).float().mean().item(), len(images) / seconds

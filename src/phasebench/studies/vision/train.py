"""Training and scoring of one image classifier: a plain PyTorch loop, since a run is seconds
long, keeps nothing on disk and needs none of the pipeline's checkpointing and resuming."""

import time

import geoopt
import torch
import torch.nn.functional as F

from phasebench.layers.feature_major import plain_layers
from phasebench.studies.vision.stiefel import manifold_parameters


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


def warped(images: torch.Tensor, g: torch.Generator, degrees: float, scale: float):
    """Each image rotated by up to `degrees` and scaled by up to 1 ± `scale` about its centre,
    bilinear, zeros filling in; both 0 leave them as they are."""
    if not degrees and not scale:
        return images
    b = len(images)
    angle = (2 * torch.rand(b, generator=g) - 1) * degrees * torch.pi / 180
    zoom = 1 + (2 * torch.rand(b, generator=g) - 1) * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, 0 * cos], -1), torch.stack([sin, cos, 0 * cos], -1)], 1
    )
    grid = F.affine_grid(theta, (b, 1, *images.shape[1:]), align_corners=False)
    return F.grid_sample(images[:, None], grid, align_corners=False)[:, 0]


def optimisers(model, lr, weight_decay) -> list[torch.optim.Optimizer]:
    """AdamW for the Euclidean parameters; Riemannian Adam without weight decay for those on the
    Stiefel manifold (decay pulls towards zero, off the manifold)."""
    on_manifold = manifold_parameters(model)
    chosen = {id(p) for p in on_manifold}
    rest = [p for p in model.parameters() if id(p) not in chosen]
    # foreach: one batched update for all tensors, bitwise the same as torch's per-tensor loop
    # on CPU (its default there), 10 % of a ViT's training CPU and 28 % of a deep model's.
    chosen_optimisers = [torch.optim.AdamW(rest, lr=lr, weight_decay=weight_decay, foreach=True)]
    if on_manifold:
        chosen_optimisers.append(geoopt.optim.RiemannianAdam(on_manifold, lr=lr))
    return chosen_optimisers


def fit(
    model, images, labels, *, epochs, lr, batch_size, seed, shift=0, weight_decay=0.0,
    label_smoothing=0.0, ema=0.0, rotate=0.0, zoom=0.0, after_epoch=None,
):  # fmt: skip
    """Adam(W) with a one-cycle learning rate (warm-up, then cosine decay to ~0), cross-entropy,
    random shifts. Returns the seconds spent training and the mean loss of every epoch.
    Remedies tried for the sequential split (the study uses none; README): `label_smoothing`,
    `ema` (the model ends with a moving average of its weights), random rotations by up to
    `rotate` degrees and scalings by up to 1 ± `zoom` before the shifts.
    `after_epoch(epoch)`, if given, is called after each epoch (diagnostics; its time counts)."""
    g = torch.Generator().manual_seed(seed)
    steps = epochs * -(-len(images) // batch_size)
    chosen = optimisers(model, lr, weight_decay)
    schedules = [
        torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
        for opt in chosen
    ]
    losses = []
    # An exponential moving average of the Euclidean weights (decay `ema` a step), put into
    # the model at the end; Stiefel bases are left as trained (an average is off the manifold).
    on_manifold = {id(p) for p in manifold_parameters(model)}
    tracked = [p for p in model.parameters() if id(p) not in on_manifold] if ema else []
    averaged = [p.detach().clone() for p in tracked]
    step = 0
    start = time.perf_counter()
    # Softmax attention on the plain path: scaled_dot_product_attention beats the feature-major
    # form (made for 3- to 6-dimensional states) at these widths.
    with plain_layers():
        for epoch in range(epochs):
            model.train()  # again after a scoring `after_epoch`
            order = torch.randperm(len(images), generator=g)
            total = torch.zeros(())
            for batch in order.split(batch_size):
                logits = model(shifted(warped(images[batch], g, rotate, zoom), g, shift))
                loss = F.cross_entropy(logits, labels[batch], label_smoothing=label_smoothing)
                for opt in chosen:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt, schedule in zip(chosen, schedules, strict=True):
                    opt.step()
                    schedule.step()
                if averaged:  # the decay grows to `ema` over the first steps, as TensorFlow's
                    step += 1
                    decay = min(ema, (1 + step) / (10 + step))
                    for mean, p in zip(averaged, tracked, strict=True):
                        mean.lerp_(p.detach(), 1 - decay)
                total += loss.detach() * len(batch)
            losses.append(total.item() / len(images))
            if after_epoch:
                after_epoch(epoch)
    with torch.no_grad():
        for p, mean in zip(tracked, averaged, strict=True):
            p.copy_(mean)
    return time.perf_counter() - start, losses


def views(images: torch.Tensor, most: int) -> list[torch.Tensor]:
    """Every copy of the images moved by up to `most` pixels in each direction, zeros filling
    in: (2·most + 1)² of them, the unmoved images among them (`most = 0`: only those)."""
    h, w = images.shape[1:]
    padded = F.pad(images, (most, most, most, most))
    side = range(2 * most + 1)
    return [padded[:, i : i + h, j : j + w] for i in side for j in side]


@torch.no_grad()
def score(model, images, labels, shift=0, batch_size=512) -> dict:
    """Test accuracy of the images as they are (`single_view`) and of the class probabilities
    averaged over their shifts by up to `shift` pixels (`accuracy`, a test-time average; the
    same with `shift = 0`), and images per second of the averaged inference."""
    model.eval()
    start = time.perf_counter()
    probabilities, single = [], []
    with plain_layers():
        for x in images.split(batch_size):
            outputs = [model(view).softmax(-1) for view in views(x, shift)]
            probabilities.append(torch.stack(outputs).mean(0))
            single.append(outputs[len(outputs) // 2])  # the unmoved view is the middle one
    seconds = time.perf_counter() - start

    def accuracy(p):
        return (torch.cat(p).argmax(-1) == labels).float().mean().item()

    return {
        "accuracy": accuracy(probabilities),
        "single_view": accuracy(single),
        "images_per_s": len(images) / seconds,
    }

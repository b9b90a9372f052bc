"""The fast training path, decided in one place: what `training.compile` means, and the plain
reference path that the fast one is checked and timed against.

The fast path is on by default and computes the same numbers as the reference path (a test
trains both in float64 and compares the losses):
- feature-major small-state layers and closed-form Cayley transforms (`phasebench.layers`);
- Adam's fused kernel, one call for all parameters instead of a dozen operations per tensor;
- the loss accumulated on the device and logged once per epoch, not per step;
- batches cut from the in-memory windows by one index tensor, kept on the training device;
- `torch.compile` of the loss where it pays (`compile_decision`);
- checkpoints whose cost does not grow with the run (`phasebench.training.ResumeCheckpoint`).
"""

import torch

from phasebench.layers.feature_major import plain_layers

# `compile: auto` compiles on a GPU when the run plans at least this many optimiser steps: there
# a compiled step launches a few fused kernels instead of hundreds, and compiling costs seconds.
# On the CPU it does not pay here (benchmarks/results/train_throughput_paper_compiled.json:
# compiled `vpt` and `vpff` 1.04× and 1.09× faster than eager, the transformer 1.5× slower,
# after 20–130 s of compiling per model).
AUTO_COMPILE_MIN_STEPS = 2000


def compile_decision(setting, device: torch.device, planned_steps: int) -> bool:
    """Whether to torch.compile the training step for `training.compile` = true/false/auto."""
    if setting != "auto":
        return bool(setting)
    return device.type == "cuda" and planned_steps >= AUTO_COMPILE_MIN_STEPS


def optimiser(parameters, training: dict, fast: bool = True) -> torch.optim.Adam:
    """Adam with the training settings; fused on the fast path, one tensor at a time otherwise."""
    return torch.optim.Adam(
        parameters,
        lr=training["lr"],
        betas=tuple(training["betas"]),
        eps=training["eps"],
        fused=fast or None,
        foreach=None if fast else False,
    )


# The plain path: layers by their plain formulas (batch-major, general linear solves). With
# `optimiser(fast=False)` and no compilation it is the reference that tests and benchmarks
# compare the fast path with.
reference_path = plain_layers

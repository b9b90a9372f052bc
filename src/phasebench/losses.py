"""Training losses, selected by `training.loss` in config."""

import torch


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((prediction - target) ** 2)


def relative(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖Ŷ − Y‖_F / ‖Y‖_F over the whole batch (the volume-preserving transformer paper's loss)."""
    return torch.linalg.vector_norm(prediction - target) / torch.linalg.vector_norm(target)


LOSSES = {"mse": mse, "relative": relative}

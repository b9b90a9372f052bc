"""Training losses, selected by `training.loss` in config."""

import torch


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((prediction - target) ** 2)


def relative(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖Ŷ − Y‖_F / ‖Y‖_F over the whole batch (the volume-preserving transformer paper's loss)."""
    return torch.linalg.vector_norm(prediction - target) / torch.linalg.vector_norm(target)


def mse_positions(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of the positions only, the first half of a canonical state (q, p): the EGNN N-body
    protocol's loss, which predicts positions and has no target for the momenta."""
    half = target.shape[-1] // 2
    return torch.mean((prediction[..., :half] - target[..., :half]) ** 2)


LOSSES = {"mse": mse, "relative": relative, "mse_positions": mse_positions}

"""How a predicted trajectory is judged against the truth: per-step errors and scalars."""

from __future__ import annotations

import math

import numpy as np
import torch

from phasebench.system import System


def relative_error(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """‖x̂ − x‖ / ‖x‖ per state, over the last axis."""
    return np.linalg.norm(prediction - truth, axis=-1) / np.linalg.norm(truth, axis=-1)


def valid_time(error: np.ndarray, time_axis: np.ndarray, threshold: float) -> np.ndarray:
    """Per trajectory, the first time its error exceeds `threshold` (the end if never)."""
    beyond = ~(error <= threshold)  # NaN counts as beyond
    first = np.where(beyond.any(axis=1), beyond.argmax(axis=1), len(time_axis) - 1)
    return time_axis[first]


def invariant_errors(system: System, prediction: np.ndarray, truth: np.ndarray) -> dict:
    """Per invariant, |I(x̂_t) − I(x_0)| relative to the system's `invariant_scales` at x_0
    (|I(x_0)| by default; absolute where that is ≈ 0)."""
    initial = system.invariants(truth[:, :1].astype(np.float64))
    sizes = system.invariant_scales(truth[:, :1].astype(np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        predicted = system.invariants(prediction.astype(np.float64))
        errors = {}
        for name, reference in initial.items():
            scale = np.where(sizes[name] > 1e-12, sizes[name], 1.0)
            errors[name] = np.abs(predicted[name] - reference) / scale
    return errors


def rollout_scalars(
    error: np.ndarray,
    invariants: dict[str, np.ndarray],
    time_axis: np.ndarray,
    settings: dict,
) -> dict:
    """Scalars of a rollout: final and horizon errors, valid time, invariant errors and drift."""
    mean_error = error.mean(axis=0)
    scalars = {
        "final_error": mean_error[-1],
        "valid_time": float(np.median(valid_time(error, time_axis, settings["valid_threshold"]))),
    }
    for horizon in settings["horizons"]:
        # Only horizons within the stored times (a store may begin after t = 0: start_time,
        # burn_in); the first stored time at or after the horizon, to float rounding.
        if time_axis[0] - 1e-9 <= horizon <= time_axis[-1] + 1e-9:
            at = int(np.searchsorted(time_axis, horizon - 1e-9))
            scalars[f"error_t{horizon:g}"] = mean_error[at]
    for name, values in invariants.items():
        mean = values.mean(axis=0)
        label = "energy" if name == "energy" else f"invariant_{name}"
        scalars[f"final_{label}_error"] = mean[-1]
        # Growth of the mean relative error per unit time (least-squares slope).
        scalars[f"{label}_drift"] = (
            float(np.polyfit(time_axis, mean, 1)[0]) if np.isfinite(mean).all() else math.inf
        )
    return scalars


def map_structure_errors(model, windows: torch.Tensor, canonical: bool, features=None) -> dict:
    """For a learned map with as many states out as in: mean |det J_f − 1| over `windows`, and on
    canonical systems mean ‖J_fᵀ Ω J_f − Ω‖_F with Ω = J on every state of the window.
    `features`: each window's particle features (for a particle model), held fixed."""
    if model.input_steps != model.output_steps:
        return {"det_error": None, "symplectic_error": None}
    exact = _float64_copy(model)
    size = windows.shape[1] * windows.shape[2]
    half = windows.shape[2] // 2
    omega = None
    if canonical:
        j = torch.zeros(2 * half, 2 * half, dtype=torch.float64)
        j[:half, half:], j[half:, :half] = torch.eye(half), -torch.eye(half)
        omega = torch.block_diag(*[j] * windows.shape[1])
    det_errors, symplectic_errors = [], []
    for i, window in enumerate(windows.double()):
        fixed = None if features is None else features[i : i + 1].double()

        def step(flat, shape=window.shape, fixed=fixed):
            return exact.step(flat.reshape(1, *shape), fixed).reshape(-1)

        jac = torch.autograd.functional.jacobian(step, window.reshape(-1))
        if jac.shape != (size, size) or not torch.isfinite(jac).all():
            return {"det_error": math.inf, "symplectic_error": math.inf if canonical else None}
        det_errors.append(abs(torch.linalg.det(jac).item() - 1.0))
        if omega is not None:
            symplectic_errors.append(torch.linalg.norm(jac.T @ omega @ jac - omega).item())
    return {
        "det_error": float(np.mean(det_errors)),
        "symplectic_error": float(np.mean(symplectic_errors)) if canonical else None,
    }


def _float64_copy(model):
    import copy

    return copy.deepcopy(model).double().eval()

"""Why a training stopped and whether it had converged, judged from its validation curve.

A run *converged* unless it stopped at `max_epochs` while its validation loss was still
improving: its best value over the last 10% of epochs (at least one) is more than
`STILL_IMPROVING` below the best value before them. Early stopping means `patience` epochs
passed without improvement, so such a run has converged by construction.
"""

import math

LATE_FRACTION = 0.10  # the stretch of epochs whose improvement is measured
STILL_IMPROVING = 0.01  # relative improvement over that stretch that counts as still learning


def late_improvement(val_losses: list[float]) -> float | None:
    """Relative improvement of the best validation loss over the last 10% of epochs:
    (best before − best overall) / best before; None with fewer than two finite epochs."""
    losses = [v for v in val_losses if math.isfinite(v)]
    if len(losses) < 2:
        return None
    late = max(1, math.ceil(LATE_FRACTION * len(losses)))
    before = min(losses[:-late])
    return (before - min(losses)) / abs(before) if before else 0.0


def stop_reason(diverged: bool, epochs_run: int, max_epochs: int) -> str:
    if diverged:
        return "diverged"
    return "max_epochs" if epochs_run >= max_epochs else "early_stopping"


def judge(val_losses: list[float], diverged: bool, epochs_run: int, max_epochs: int) -> dict:
    """What `train.json` records: stop reason, best epoch (0-based), late improvement and
    whether the run converged."""
    reason = stop_reason(diverged, epochs_run, max_epochs)
    finite = [(v, epoch) for epoch, v in enumerate(val_losses) if math.isfinite(v)]
    improvement = late_improvement(val_losses)
    still_improving = improvement is not None and improvement > STILL_IMPROVING
    return {
        "stop_reason": reason,
        "best_epoch": min(finite)[1] if finite else None,
        "late_improvement": improvement,
        "converged": reason == "early_stopping" or (reason == "max_epochs" and not still_improving),
    }

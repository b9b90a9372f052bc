"""The checks a freshly simulated data set must pass before it is stored."""

from __future__ import annotations

import numpy as np

from phasebench.data import one_trajectory
from phasebench.errors import DataError
from phasebench.integrators import INTEGRATORS
from phasebench.system import System


def relative_invariant_errors(
    invariants: dict[str, np.ndarray], scales: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Per invariant `(n, T)`, |I(x_t) − I(x_0)| / s with s = |I(x_0)| or the system's
    `invariant_scales` at x_0 (`(n, 1)` each); absolute where s ≈ 0."""
    errors = {}
    for name, values in invariants.items():
        size = np.abs(values[:, :1]) if scales is None else scales[name]
        scale = np.where(size > 1e-12, size, 1.0)
        errors[name] = np.abs(values - values[:, :1]) / scale
    return errors


def validate(
    system: System,
    states: np.ndarray,
    invariants: dict,
    settings: dict,
    swept=None,
    features=None,
    scales=None,
) -> dict:
    """Check freshly integrated data; the outcome goes into the store's attributes. `swept`:
    per-trajectory parameter values of a sweep; `features`: particle features; `scales`: the
    system's invariant scales at t = 0."""
    swept = swept or {}
    integrator, dt = settings["integrator"], settings["dt"]
    if not np.isfinite(states).all():
        raise DataError(
            f"simulating {system.name} with {integrator} at dt={dt} gave non-finite states; "
            "lower dt or raise substeps"
        )
    errors = {k: float(v.max()) for k, v in relative_invariant_errors(invariants, scales).items()}
    worst = max(errors, key=errors.get)
    if errors[worst] > settings["invariant_tolerance"]:
        raise DataError(
            f"simulating {system.name} with {integrator} at dt={dt}, substeps="
            f"{settings['substeps']}: relative {worst} error {errors[worst]:.2e} exceeds "
            f"invariant_tolerance {settings['invariant_tolerance']:.0e}; raise substeps or "
            "choose a higher-order integrator"
        )
    x0, energies = states[:, 0], invariants["energy"][:, 0]
    if settings["initial_conditions"] == "sampled" and len(x0) > 1 and np.ptp(energies) == 0:
        raise DataError(f"the sampled initial states of {system.name} do not vary")
    for name, values in swept.items():
        if len(values) > 1 and np.ptp(values) == 0:
            raise DataError(f"the swept parameter {name} of {system.name} does not vary")
    outcome = {f"max_rel_{k}_error": v for k, v in errors.items()}
    n_ref = min(settings["reference_trajectories"], len(x0))
    if n_ref:
        # One at a time: the reference integrator calls the field with one state.
        rows = [None if features is None else features[i : i + 1] for i in range(n_ref)]
        exact = np.concatenate([
            INTEGRATORS["reference"](
                one_trajectory(system, swept, i, rows[i]).vector_field,
                x0[i : i + 1], dt, states.shape[1] - 1,
            )
            for i in range(n_ref)
        ])  # fmt: skip
        gap = np.linalg.norm(states[:n_ref] - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
        outcome["reference_state_error_first_step"] = float(gap[:, 1].max())
        outcome["reference_state_error_max"] = float(gap.max())
    outcome["invariant_tolerance"] = settings["invariant_tolerance"]
    outcome["validation"] = "passed"
    return outcome

"""Time integrators, vectorised over a batch of states and computed in float64.

Each integrator advances `x0 (n, D)` by `n_steps` saved samples of spacing `dt`, taking
`substeps` internal steps between samples, and returns `(n, n_steps + 1, D)` including `x0`.
"""

from collections.abc import Callable

import numpy as np

VectorField = Callable[[np.ndarray], np.ndarray]


def _integrate(step, x0: np.ndarray, dt: float, n_steps: int, substeps: int) -> np.ndarray:
    x = np.asarray(x0, dtype=np.float64)
    out = np.empty((x.shape[0], n_steps + 1, x.shape[1]))
    out[:, 0] = x
    h = dt / substeps
    for i in range(1, n_steps + 1):
        for _ in range(substeps):
            x = step(x, h)
        out[:, i] = x
    return out


def stormer_verlet(
    field: VectorField, x0: np.ndarray, dt: float, n_steps: int, substeps: int = 1
) -> np.ndarray:
    """Störmer–Verlet (kick–drift–kick), order 2 and symplectic, for separable H = T(p) + V(q).

    For such H the field's p-part depends on q alone and its q-part on p alone, so each half of
    the method can evaluate the full field and keep the half it needs.
    """
    half = x0.shape[1] // 2

    def step(x, h):
        x = x.copy()
        x[:, half:] += 0.5 * h * field(x)[:, half:]
        x[:, :half] += h * field(x)[:, :half]
        x[:, half:] += 0.5 * h * field(x)[:, half:]
        return x

    return _integrate(step, x0, dt, n_steps, substeps)


def rk4(field: VectorField, x0: np.ndarray, dt: float, n_steps: int, substeps: int = 1):
    """Classical Runge–Kutta of order 4: accurate for any field, but not symplectic."""

    def step(x, h):
        k1 = field(x)
        k2 = field(x + 0.5 * h * k1)
        k3 = field(x + 0.5 * h * k2)
        k4 = field(x + h * k3)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return _integrate(step, x0, dt, n_steps, substeps)


INTEGRATORS = {"stormer_verlet": stormer_verlet, "rk4": rk4}

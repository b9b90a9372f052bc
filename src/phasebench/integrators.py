"""Time integrators, vectorised over a batch of states and computed in float64.

Each integrator advances `x0 (n, D)` by `n_steps` saved samples of spacing `dt`, taking
`substeps` internal steps between samples, and returns `(n, n_steps + 1, D)` including `x0`.
The splitting methods (Störmer–Verlet and its Yoshida compositions) need a separable
H = T(p) + V(q); implicit midpoint and RK4 take any field.
"""

from collections.abc import Callable

import numpy as np

from phasebench.errors import DataError

VectorField = Callable[[np.ndarray], np.ndarray]

# Triple jump (Yoshida 1990): composing order-2 steps of sizes w1 h, w0 h, w1 h gives order 4.
_CBRT2 = 2 ** (1 / 3)
YOSHIDA4 = (1 / (2 - _CBRT2), -_CBRT2 / (2 - _CBRT2), 1 / (2 - _CBRT2))
# Yoshida's order-6 "solution A": w3 w2 w1 w0 w1 w2 w3, with w0 = 1 − 2 (w1 + w2 + w3).
_W = (-1.17767998417887, 0.235573213359357, 0.784513610477560)
YOSHIDA6 = (*_W[::-1], 1 - 2 * sum(_W), *_W)


def whole_substeps(duration: float, dt: float, substeps: int) -> int | None:
    """`duration` as a count of integrator substeps of size dt/substeps; None where it is not
    a whole number of them (to float rounding)."""
    count = duration * substeps / dt
    nearest = round(count)
    return nearest if abs(count - nearest) <= 1e-9 * max(1, nearest) else None


def _integrate(step, x0: np.ndarray, dt: float, n_steps: int, substeps: int) -> np.ndarray:
    x = np.array(x0, dtype=np.float64)
    out = np.empty((x.shape[0], n_steps + 1, x.shape[1]))
    out[:, 0] = x
    h = dt / substeps
    for i in range(1, n_steps + 1):
        for _ in range(substeps):
            x = step(x, h)
        out[:, i] = x
    return out


def _kick_drift_sequence(weights) -> list[tuple[str, float]]:
    """A composition of Störmer–Verlet steps w_i h as alternating kicks and drifts, with the
    closing kick of one step merged into the opening kick of the next (one field evaluation
    fewer per merge)."""
    sequence, pending = [], 0.0
    for w in weights:
        sequence += [("kick", pending + w / 2), ("drift", w)]
        pending = w / 2
    return sequence + [("kick", pending)]


def _composition(weights):
    """Compositions of kick–drift–kick Störmer–Verlet steps, for separable H = T(p) + V(q)."""
    return _splitting(_kick_drift_sequence(weights))


def _splitting(sequence):
    """A step made of kicks (p += w h F(q)) and drifts (q += w h v(p)), for separable H.

    If `field` is the `vector_field` of a system that also defines `velocity(p)` (∂T/∂p) and
    `force(q)` (−∂V/∂q), kicks and drifts call those on contiguous q and p arrays, and a kick at
    the positions of the previous kick reuses its force: the closing kick of one step and the
    opening kick of the next share q, so Störmer–Verlet costs one force per step, not two.
    Otherwise a kick evaluates the whole field and keeps its p-part (which depends on q alone),
    a drift keeps its q-part (which depends on p alone).
    """

    def integrate(field, x0, dt, n_steps, substeps=1):
        half = np.shape(x0)[1] // 2
        system = getattr(field, "__self__", None)
        if hasattr(system, "velocity") and hasattr(system, "force"):
            last = {}  # the positions and force of the last kick

            def force(q):
                if "q" not in last or not np.array_equal(last["q"], q):
                    last["q"], last["force"] = q.copy(), system.force(q)
                return last["force"]

            def step(x, h):
                q, p = x[:, :half].copy(), x[:, half:].copy()
                for kind, w in sequence:
                    if kind == "kick":
                        p += w * h * force(q)
                    else:
                        q += w * h * system.velocity(p)
                return np.concatenate([q, p], axis=1)

        else:

            def step(x, h):
                x = x.copy()
                for kind, w in sequence:
                    if kind == "kick":
                        x[:, half:] += w * h * field(x)[:, half:]
                    else:
                        x[:, :half] += w * h * field(x)[:, :half]
                return x

        return _integrate(step, x0, dt, n_steps, substeps)

    return integrate


stormer_verlet = _composition((1.0,))
stormer_verlet.__doc__ = "Störmer–Verlet (kick–drift–kick): order 2, symplectic, separable H."


yoshida4 = _composition(YOSHIDA4)
yoshida4.__doc__ = "Yoshida's composition of three Störmer–Verlet steps: order 4, symplectic."
yoshida6 = _composition(YOSHIDA6)
yoshida6.__doc__ = "Yoshida's composition of seven Störmer–Verlet steps: order 6, symplectic."
# Velocity, then position with the new velocity: the update of the NRI / EGNN N-body data.
symplectic_euler = _splitting([("kick", 1.0), ("drift", 1.0)])
symplectic_euler.__doc__ = "Symplectic Euler, kick then drift: order 1, separable H."


def implicit_midpoint(field: VectorField, x0, dt: float, n_steps: int, substeps: int = 1):
    """x' = x + h f((x + x')/2), solved by fixed-point iteration to machine precision.

    Symplectic for canonical systems and exact on every quadratic invariant (e.g. the rigid
    body's ‖z‖²), for any field.
    """

    def step(x, h):
        new = x + h * field(x)
        change = np.inf
        for _ in range(100):
            update = x + h * field(0.5 * (x + new))
            previous, change = change, np.max(np.abs(update - new))
            new = update
            scale = max(1.0, np.max(np.abs(new)))
            # Converged, or stalled at the level of rounding errors.
            if change <= 1e-15 * scale or (change >= previous and change <= 1e-12 * scale):
                return new
            if change >= previous:
                break
        raise DataError(f"implicit midpoint did not converge at h={h}; lower dt or raise substeps")

    return _integrate(step, x0, dt, n_steps, substeps)


def rk4(field: VectorField, x0, dt: float, n_steps: int, substeps: int = 1):
    """Classical Runge–Kutta of order 4: accurate for any field, but not symplectic."""

    def step(x, h):
        k1 = field(x)
        k2 = field(x + 0.5 * h * k1)
        k3 = field(x + 0.5 * h * k2)
        k4 = field(x + h * k3)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return _integrate(step, x0, dt, n_steps, substeps)


def reference(field: VectorField, x0, dt: float, n_steps: int, substeps: int = 1):
    """High-accuracy reference: scipy's adaptive DOP853 at rtol = atol = 1e-12, one trajectory
    at a time (slow; it measures the error of the other methods)."""
    # Imported here: the Snakefile's parse reads INTEGRATORS, and scipy costs it ~1 s.
    from scipy.integrate import solve_ivp

    times = np.arange(n_steps + 1) * dt
    out = np.empty((len(x0), n_steps + 1, np.shape(x0)[1]))
    for i, start in enumerate(np.asarray(x0, dtype=np.float64)):
        solution = solve_ivp(
            lambda t, x: field(x[None])[0],
            (0.0, times[-1]),
            start,
            method="DOP853",
            t_eval=times,
            rtol=1e-12,
            atol=1e-12,
        )
        out[i] = solution.y.T
    return out


INTEGRATORS = {
    "symplectic_euler": symplectic_euler,
    "stormer_verlet": stormer_verlet,
    "yoshida4": yoshida4,
    "yoshida6": yoshida6,
    "implicit_midpoint": implicit_midpoint,
    "rk4": rk4,
    "reference": reference,
}
# The splitting methods need H = T(p) + V(q).
SEPARABLE_ONLY = {"symplectic_euler", "stormer_verlet", "yoshida4", "yoshida6"}

"""The vectorised integrators: order of accuracy, symplecticity, invariants, energy behaviour."""

import numpy as np
import pytest

from phasebench.integrators import INTEGRATORS, implicit_midpoint, rk4, stormer_verlet
from phasebench.system import build_system


@pytest.fixture(scope="module")
def oscillator():
    return build_system("coupled_oscillator")


def test_stormer_verlet_energy_stays_bounded_without_drift_over_ten_thousand_steps(oscillator):
    x0 = oscillator.sample_initial(np.random.default_rng(1), 16)
    states = stormer_verlet(oscillator.vector_field, x0, 0.1, 10_000)
    energy = oscillator.hamiltonian(states)
    rel = (energy - energy[:, :1]) / np.abs(energy[:, :1])
    assert np.abs(rel).max() < 1e-2  # bounded
    early, late = rel[:, 1:1001].mean(axis=1), rel[:, -1000:].mean(axis=1)
    assert np.abs(late - early).max() < 1e-3  # no secular drift


@pytest.mark.parametrize(
    ("name", "ratio"),
    [
        ("symplectic_euler", 2),
        ("stormer_verlet", 4),
        ("yoshida4", 16),
        ("yoshida6", 64),
        ("implicit_midpoint", 4),
        ("rk4", 16),
    ],
)
def test_error_ratio_when_the_step_halves_shows_the_order(name, ratio):
    pendulum = build_system("pendulum")
    x0 = pendulum.sample_initial(np.random.default_rng(2), 4)
    exact = INTEGRATORS["reference"](pendulum.vector_field, x0, 2.0, 1)[:, -1]
    # Steps small enough for the asymptotic regime, large enough to stay above rounding.
    steps = (32, 64)
    errors = [
        np.abs(
            INTEGRATORS[name](pendulum.vector_field, x0, 2.0, 1, substeps=n)[:, -1] - exact
        ).max()
        for n in steps
    ]
    assert errors[0] / errors[1] == pytest.approx(ratio, rel=0.1)


def test_stormer_verlet_is_symplectic_on_a_linear_system():
    chain = build_system("oscillator_chain", {"n": 3, "kappa": 0.4})
    dim = chain.dim
    # The one-step map of a linear field is linear: its matrix maps the basis vectors.
    step = stormer_verlet(chain.vector_field, np.eye(dim), 0.3, 1)[:, 1]
    m = step.T
    j = np.block([[np.zeros((3, 3)), np.eye(3)], [-np.eye(3), np.zeros((3, 3))]])
    np.testing.assert_allclose(m.T @ j @ m, j, rtol=0, atol=1e-12)


def test_implicit_midpoint_conserves_the_rigid_body_casimir_to_machine_precision():
    body = build_system("rigid_body")
    z0 = body.reference_initial_states()[::50]
    states = implicit_midpoint(body.vector_field, z0, 0.2, 100)
    norms = np.linalg.norm(states, axis=-1)
    assert np.abs(norms - norms[:, :1]).max() < 1e-12


def test_integrators_are_vectorised_over_trajectories(oscillator):
    x0 = oscillator.sample_initial(np.random.default_rng(3), 5)
    for name, integrate in INTEGRATORS.items():
        together = integrate(oscillator.vector_field, x0, 0.4, 20, 3)
        alone = integrate(oscillator.vector_field, x0[2:3], 0.4, 20, 3)
        assert together.shape == (5, 21, 4)
        np.testing.assert_allclose(together[2:3], alone, rtol=0, atol=1e-9, err_msg=name)


def test_rk4_is_accurate_but_drifts_where_verlet_stays_bounded(oscillator):
    x0 = oscillator.sample_initial(np.random.default_rng(4), 8)

    def drift(integrate):
        energy = oscillator.hamiltonian(integrate(oscillator.vector_field, x0, 0.4, 3000))
        rel = (energy - energy[:, :1]) / np.abs(energy[:, :1])
        return np.abs(rel[:, -500:].mean(axis=1)).max()

    assert drift(stormer_verlet) < drift(rk4)


@pytest.mark.parametrize("name", ["symplectic_euler", "stormer_verlet", "yoshida4", "yoshida6"])
def test_split_field_path_equals_the_whole_field_path(name):
    """The chain defines velocity(p) and force(q); a plain function forces the generic path."""
    chain = build_system("oscillator_chain", {"n": 5, "beta": 0.3})
    x0 = chain.sample_initial(np.random.default_rng(5), 4)
    fast = INTEGRATORS[name](chain.vector_field, x0, 0.1, 30, 2)
    generic = INTEGRATORS[name](lambda x: chain.vector_field(x), x0, 0.1, 30, 2)
    np.testing.assert_allclose(fast, generic, rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    "name, per_step, extra",
    [("stormer_verlet", 1, 1), ("yoshida4", 3, 1), ("yoshida6", 7, 1), ("symplectic_euler", 1, 0)],
)
def test_a_kick_at_the_last_kicks_positions_reuses_its_force(name, per_step, extra):
    """The closing kick of a step and the opening kick of the next share q: one evaluation."""
    chain = build_system("oscillator_chain", {"n": 5, "beta": 0.3})
    x0 = chain.sample_initial(np.random.default_rng(5), 4)
    calls, force = [], chain.force
    chain.force = lambda q: calls.append(1) or force(q)
    INTEGRATORS[name](chain.vector_field, x0, 0.1, 30, 2)
    assert len(calls) == 30 * 2 * per_step + extra

"""The vectorised integrators: energy behaviour and order of accuracy."""

import numpy as np
import pytest

from phasebench.integrators import INTEGRATORS, rk4, stormer_verlet
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


@pytest.mark.parametrize(("integrator", "order"), [(stormer_verlet, 2), (rk4, 4)])
def test_error_falls_with_the_order_of_the_method(oscillator, integrator, order):
    x0 = oscillator.sample_initial(np.random.default_rng(2), 4)
    reference = rk4(oscillator.vector_field, x0, 1.0, 1, substeps=2048)[:, -1]
    errors = [
        np.abs(integrator(oscillator.vector_field, x0, 1.0, 1, substeps=n)[:, -1] - reference).max()
        for n in (16, 32)
    ]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.1)


def test_integrators_are_vectorised_over_trajectories(oscillator):
    x0 = oscillator.sample_initial(np.random.default_rng(3), 5)
    for integrate in INTEGRATORS.values():
        together = integrate(oscillator.vector_field, x0, 0.4, 20, substeps=3)
        alone = integrate(oscillator.vector_field, x0[2:3], 0.4, 20, substeps=3)
        assert together.shape == (5, 21, 4)
        np.testing.assert_allclose(together[2:3], alone, rtol=0, atol=1e-14)

"""The metrics that judge rollouts and learned maps, and the report's aggregation of seeds."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from phasebench import ModelPlugin
from phasebench.metrics import invariant_errors, map_structure_errors, rollout_scalars, valid_time
from phasebench.reporting import (
    leaderboard,
    pareto_front,
    seed_ranks,
    select_variants,
    study_links,
    variant_table,
)
from phasebench.spec import SystemSpec
from phasebench.system import build_system

SPEC = SystemSpec("s", 2, ("q", "p"), True, 0.1)


class LinearMap(ModelPlugin):
    """x_{n+1} = M x_n for a fixed matrix M (a test double of a learned map)."""

    name = "linear_map"

    def __init__(self, spec, matrix=None):
        super().__init__(spec)
        self.register_buffer("matrix", torch.as_tensor(matrix, dtype=torch.float32))

    def forward(self, window):
        return window @ self.matrix.T


def windows(n=4):
    return torch.randn(n, 1, 2, generator=torch.Generator().manual_seed(0))


def test_valid_time_is_the_first_crossing():
    t = np.arange(5) * 0.5
    error = np.array([[0, 0.05, 0.2, 0.05, 0.3], [0, 0, 0, 0, 0], [0, np.nan, 0, 0, 0]])
    np.testing.assert_array_equal(valid_time(error, t, 0.1), [1.0, 2.0, 0.5])


@pytest.mark.parametrize(
    ("matrix", "det_error", "symplectic_error"),
    [
        ([[1.0, 0.0], [0.3, 1.0]], 0.0, 0.0),  # a shear p += 0.3 q: symplectic
        ([[math.cos(0.4), math.sin(0.4)], [-math.sin(0.4), math.cos(0.4)]], 0.0, 0.0),
        ([[2.0, 0.0], [0.0, 1.0]], 1.0, math.sqrt(2.0)),  # stretches q: det 2, JᵀΩJ = 2Ω
    ],
)
def test_structure_errors_of_known_linear_maps(matrix, det_error, symplectic_error):
    found = map_structure_errors(LinearMap(SPEC, matrix), windows(), canonical=True)
    assert found["det_error"] == pytest.approx(det_error, abs=1e-6)
    assert found["symplectic_error"] == pytest.approx(symplectic_error, abs=1e-6)


def test_structure_errors_need_a_square_map_and_symplecticity_a_canonical_system():
    model = LinearMap(SPEC, [[1.0, 0.0], [0.0, 1.0]])
    assert map_structure_errors(model, windows(), canonical=False)["symplectic_error"] is None
    model.output_steps = 2
    assert map_structure_errors(model, windows(), canonical=True) == {
        "det_error": None,
        "symplectic_error": None,
    }


def test_invariant_errors_are_zero_on_the_truth_and_relative_otherwise():
    system = build_system("coupled_oscillator")
    truth = np.repeat(system.sample_initial(np.random.default_rng(0), 3)[:, None], 4, axis=1)
    assert invariant_errors(system, truth, truth)["energy"].max() == 0.0
    scaled = truth * np.array([1.0, 1.0, 2.0, 2.0])  # momenta doubled
    errors = invariant_errors(system, scaled, truth)["energy"]
    energy = system.hamiltonian(truth[:, 0])
    kinetic = truth[:, 0, 2] ** 2 / 4 + truth[:, 0, 3] ** 2 / 2
    np.testing.assert_allclose(errors[:, -1], 3 * kinetic / np.abs(energy))


def test_rollout_scalars_report_horizons_inside_the_data_only():
    t = np.arange(11) * 1.0
    error = np.tile(t / 100, (2, 1))
    scalars = rollout_scalars(
        error, {"energy": error}, t, {"horizons": [5, 50], "valid_threshold": 0.05}
    )
    assert scalars["error_t5"] == pytest.approx(0.05) and "error_t50" not in scalars
    assert scalars["valid_time"] == 6.0 and scalars["energy_drift"] == pytest.approx(0.01)


def test_pareto_front_keeps_the_points_nothing_beats():
    cost = np.array([1.0, 2.0, 3.0, 4.0])
    error = np.array([0.5, 0.6, 0.1, 0.05])
    assert pareto_front(cost, error).tolist() == [0, 2, 3]


def scalars_for(final_errors: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"model": m, "seed": s, "final_error": e, "family": "x", "diverged": not np.isfinite(e)}
        for m, errors in final_errors.items()
        for s, e in enumerate(errors)
    ]
    return pd.DataFrame(rows)


def test_leaderboard_orders_by_mean_and_marks_differences_within_seed_noise():
    table = leaderboard(
        scalars_for({"a": [0.10, 0.12], "b": [0.11, 0.30], "c": [1.0, 1.1], "d": [np.nan, 2.0]})
    )
    assert list(table.index) == ["a", "b", "c", "d"]
    assert list(table["vs. next better"]) == ["", "≈ a", "", ""]
    assert list(table["rank over seeds"]) == ["1–1", "2–2", "3–3", "4–4"]
    assert table.loc["d", "status"] == "diverged (1/2)"
    assert table.loc["a", "final rollout error"] == "0.11 ± 0.01"


def test_seed_ranks_put_diverged_runs_last():
    ranks = seed_ranks(scalars_for({"a": [0.1, np.nan], "b": [0.2, 0.2]}))
    assert ranks.loc["a"].tolist() == [1.0, 2.0] and ranks.loc["b"].tolist() == [2.0, 1.0]


def test_variant_selection_looks_at_validation_data_only():
    """A planted variant is best on test but not on validation: it must not be chosen."""
    rows = []
    for seed in (0, 1):
        rows += [
            {"model": "m[w=1]", "seed": seed, "val_final_error": 0.2, "final_error": 0.01},
            {"model": "m[w=2]", "seed": seed, "val_final_error": 0.1, "final_error": 0.50},
            {"model": "other", "seed": seed, "val_final_error": 0.3, "final_error": 0.40},
        ]
    scalars = pd.DataFrame(rows).assign(family="x", diverged=False)
    sweeps = {"m": {"m[w=1]": {"w": 1}, "m[w=2]": {"w": 2}}}
    selected, chosen = select_variants(scalars, sweeps, "val_final_error")
    assert chosen == {"m": "m[w=2]"}
    assert set(selected["model"]) == {"m[w=2]", "other"}
    table = leaderboard(selected)
    assert list(table.index) == ["other", "m[w=2]"]  # ranked by test error, after selection
    assert table.loc["m[w=2]", "variants tried"] == 2 and table.loc["other", "variants tried"] == 1
    variants = variant_table(scalars, sweeps["m"], chosen["m"], "val_final_error")
    assert list(variants.index) == ["m[w=2]", "m[w=1]"] and list(variants["chosen"]) == ["✓", ""]


def test_index_links_each_enabled_study_page():
    assert study_links([]) == ""
    links = study_links(["attention_kernels", "vision"])
    assert links.startswith("## Studies")
    assert "(studies/attention_kernels.html)" in links and "(studies/vision.html)" in links

"""Stop reasons and convergence: judged from the validation curve, recorded by training and
shown by the reports."""

import csv
import json

import pandas as pd
import pytest
import torch

from phasebench.convergence import judge, late_improvement
from phasebench.evaluation import evaluate
from phasebench.reporting import training_label
from phasebench.training import train

from conftest import TINY_TRAINING


def test_late_improvement_compares_the_last_tenth_with_what_came_before():
    curve = [1.0] * 18 + [0.95, 0.9]  # 20 epochs: the last 2 improve on 1.0 by 10%
    assert late_improvement(curve) == pytest.approx(0.1)
    assert late_improvement([1.0, 0.5, 0.5, 0.5]) == 0.0  # best reached before the last epoch
    assert late_improvement([1.0]) is None


@pytest.mark.parametrize(
    "curve, diverged, epochs, reason, converged",
    [
        ([1.0, 0.5, 0.4, 0.41, 0.42], False, 5, "early_stopping", True),
        ([1.0 - 0.02 * i for i in range(40)], False, 40, "max_epochs", False),  # still falling
        ([1.0] + [0.5] * 39, False, 40, "max_epochs", True),  # flat for its last 10%
        ([1.0, 0.8, float("nan")], True, 3, "diverged", False),
    ],
)
def test_judge_names_the_stop_reason_and_convergence(curve, diverged, epochs, reason, converged):
    verdict = judge(curve, diverged, epochs, max_epochs=40)
    assert verdict["stop_reason"] == reason
    assert verdict["converged"] is converged
    finite = [v for v in curve if v == v]
    assert verdict["best_epoch"] == finite.index(min(finite))


def test_train_json_records_why_training_stopped(tiny_store, tmp_path):
    training = {**TINY_TRAINING, "max_epochs": 3, "patience": 3}
    summary = train(tiny_store, tmp_path, "resnet", {"width": 8, "depth": 1}, training, seed=0)
    recorded = json.loads((tmp_path / "train.json").read_text())
    with (tmp_path / "metrics.csv").open() as f:
        curve = [float(row["val_loss"]) for row in csv.DictReader(f)]
    assert len(curve) == 3 and recorded == summary
    assert recorded["stop_reason"] == "max_epochs"  # 3 epochs cannot exhaust a patience of 3
    assert recorded["best_epoch"] == curve.index(min(curve))
    assert recorded["late_improvement"] == pytest.approx(late_improvement(curve))
    assert recorded["converged"] == (recorded["late_improvement"] <= 0.01)


def test_leaderboard_label_flags_runs_that_stopped_while_improving():
    rows = pd.DataFrame(
        {"stop_reason": ["max_epochs", "early_stopping"], "converged": [False, True]}
    )
    assert training_label(rows) == "max epochs, NOT CONVERGED 1/2; early stop 1/2"
    both = pd.DataFrame({"stop_reason": ["early_stopping"] * 2, "converged": [True, True]})
    assert training_label(both) == "early stop"
    assert training_label(pd.DataFrame({"stop_reason": [None], "converged": [None]})) == "—"


def test_budgets_keep_the_best_weights_so_far_and_are_scored(tiny_store, tmp_path):
    training = {**TINY_TRAINING, "max_epochs": 4, "patience": 4}
    summary = train(tiny_store, tmp_path, "resnet", {"width": 8, "depth": 1}, training, 0, [1, 3])
    budgets = json.loads((tmp_path / "budgets" / "budgets.json").read_text())
    assert [b["epoch"] for b in budgets] == [1, 3]
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    for budget in budgets:
        row = rows[budget["epoch"] - 1]  # the spent budget is read off the run's own history
        assert budget["step"] == int(row["step"]) and budget["wall_s"] == float(row["wall_s"])
        kept = torch.load(tmp_path / "budgets" / budget["file"], weights_only=False)
        so_far = [float(r["val_loss"]) for r in rows[: budget["epoch"]]]
        assert kept["epoch"] == so_far.index(min(so_far))  # the best weights up to the budget
    settings = {"horizons": [1.0, 2.0], "valid_threshold": 0.1}
    _, scalars = evaluate(
        tmp_path / "best.ckpt", tiny_store, settings, summary, "resnet", tmp_path / "budgets"
    )
    curve = scalars["budget_curve"]
    assert [point["epoch"] for point in curve] == [1, 3, 4]  # the budgets, then the trained model
    assert curve[-1]["step"] == summary["steps"] and curve[-1]["wall_s"] == summary["wall_time_s"]
    assert curve[-1]["val_error_t1"] == scalars["val_error_t1"]
    steps = [point["step"] for point in curve]
    assert steps == sorted(steps) and steps[0] > 0
    assert all(point["val_error_t2"] > 0 for point in curve)

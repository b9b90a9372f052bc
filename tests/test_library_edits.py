"""Snakemake's code trigger: editing a library module retrains exactly the models whose code
imports it."""

import shutil

import pytest

from conftest import REPO, job_counts, snakemake


@pytest.mark.slow
def test_editing_a_library_module_retrains_the_models_that_use_it(workflow_copy):
    # A copy of the library, imported by Snakemake and its jobs, that the test may edit.
    library = workflow_copy / "lib"
    pycache = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "src/phasebench", library / "phasebench", ignore=pycache)
    env = {"PYTHONPATH": str(library)}
    (workflow_copy / "small.yaml").write_text(
        "systems: [{name: coupled_oscillator, n_trajectories: 12, n_steps: 40}]\n"
        "models: [resnet, transformer, vpff]\nseeds: [0]\ntraining: {max_epochs: 1}\n"
        "evaluation: {horizons: [10.0]}\n"  # within the data (t <= 16)
    )
    runs = "results/runs/coupled_oscillator/{}/seed0/train.json"
    args = ("--cores", "2", "--configfile", "small.yaml")
    targets = [runs.format(m) for m in ("resnet", "transformer", "vpff")]
    trained = snakemake(workflow_copy, *targets, *args, env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]

    def planned_trainings():
        plan = snakemake(workflow_copy, *targets, "-n", *args, env=env)
        assert plan.returncode == 0, plan.stderr
        if "Job stats" not in plan.stdout:
            return 0, ""
        return job_counts(plan.stdout)["train"], plan.stdout  # the targets are train.json

    assert planned_trainings()[0] == 0
    # The feed-forward layers build the transformer and vpff, not resnet.
    feedforward = library / "phasebench/layers/feedforward.py"
    feedforward.write_text(feedforward.read_text() + "\n# edited\n")
    count, jobs = planned_trainings()
    assert count == 2 and "resnet/seed0/best.ckpt" not in jobs
    assert "transformer/seed0/best.ckpt" in jobs and "vpff/seed0/best.ckpt" in jobs
    # The trainer's own code runs for every model.
    (library / "phasebench/losses.py").write_text(
        (library / "phasebench/losses.py").read_text() + "\n# edited\n"
    )
    assert planned_trainings()[0] == 3

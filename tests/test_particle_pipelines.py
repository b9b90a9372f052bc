"""The particle CI experiment through the real Snakefile: nbody_charged with the particle models
and a flattened-state baseline."""

import json

import pytest

from conftest import copy_workflow, phasebench_cli, snakemake

PARTICLE_MODELS = ["gnn", "egnn", "particle_transformer"]


@pytest.fixture(scope="module")
def particle_run(tmp_path_factory):
    """The particle CI experiment (nbody_charged, particle models and a flattened baseline)."""
    root = copy_workflow(tmp_path_factory.mktemp("particles"))
    args = ("--cores", "2", "--configfile", "configs/ci-particles.yaml")
    result = snakemake(root, *args, timeout=1800)  # minutes on a busy machine
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.mark.slow
def test_particle_experiment_runs_the_dag_and_particle_models_beat_linear(particle_run):
    results = particle_run / "results"
    store = results / "data/nbody_charged.zarr"
    assert phasebench_cli("data", "check", str(store), root=particle_run).returncode == 0
    scalars = {
        model: json.loads((results / f"eval/nbody_charged/{model}/seed0.json").read_text())
        for model in [*PARTICLE_MODELS, "linear", "resnet"]
    }
    # The EGNN protocol's measure: the test position MSE, here at the end of the rollouts.
    linear = scalars["linear"]["final_position_mse"]
    for model in PARTICLE_MODELS:
        assert scalars[model]["final_position_mse"] < linear, model
    # The rotated test data leave the E(n)-equivariant model's error unchanged.
    egnn = scalars["egnn"]
    assert egnn["rotated_one_step_error"] == pytest.approx(egnn["one_step_error"], rel=1e-4)
    html = (results / "reports/nbody_charged.html").read_text()
    for model in [*PARTICLE_MODELS, "linear", "resnet"]:
        assert model in html
    assert "Traceback" not in html
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html

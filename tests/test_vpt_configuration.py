"""configs/vpt-rigid-body.yaml through every stage of the real Snakefile, with short training."""

import json

import pytest

from conftest import snakemake


@pytest.mark.slow
def test_vpt_paper_configuration_runs_with_short_training(workflow_copy):
    """configs/vpt-rigid-body.yaml as it is, but two epochs: every stage and the report."""
    (workflow_copy / "short.yaml").write_text("training: {max_epochs: 2, patience: 2}\n")
    args = ("--cores", "2", "--configfile", "configs/vpt-rigid-body.yaml", "short.yaml")
    result = snakemake(workflow_copy, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    results = workflow_copy / "results"
    for model in ("vpt", "vpff", "transformer", "lstm"):
        scalars = json.loads((results / f"eval/rigid_body/{model}/seed0.json").read_text())
        assert (
            scalars["rollout_steps"]
            + json.loads((results / f"runs/rigid_body/{model}/seed0/train.json").read_text())[
                "input_steps"
            ]
            == 501
        )  # trained on t <= 20, rolled out to t = 100
        assert {"error_t14", "error_t50", "error_t100", "final_invariant_casimir_error"} <= set(
            scalars
        )
    vpt = json.loads((results / "eval/rigid_body/vpt/seed0.json").read_text())
    assert vpt["det_error"] < 1e-5  # the learned map keeps volume (float32 Jacobian)
    html = (results / "reports/rigid_body.html").read_text()
    assert all(model in html for model in ("vpt", "vpff", "transformer", "lstm"))

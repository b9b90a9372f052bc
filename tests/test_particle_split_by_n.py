"""configs/ci-lennard-jones.yaml through the real Snakefile: the split by N."""

import json

import pytest

from conftest import copy_workflow, snakemake


@pytest.mark.slow
def test_the_split_by_n_runs_the_dag_and_the_report_shows_it(tmp_path):
    """configs/ci-lennard-jones.yaml: trained at N = 32, test_ood at N = 64 (a store group);
    the flattened-state model is skipped there with a note, and the report says which N."""
    root = copy_workflow(tmp_path)
    args = ("--cores", "2", "--configfile", "configs/ci-lennard-jones.yaml")
    result = snakemake(root, *args, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    results = root / "results"
    assert (results / "data/lennard_jones.zarr/ood_particles").is_dir()
    local = json.loads((results / "eval/lennard_jones/local_transformer/seed0.json").read_text())
    assert local["ood_particles"] == 64 and local["train_particles"] == 32
    assert local["ood_one_step_error"] > 0
    resnet = json.loads((results / "eval/lennard_jones/resnet/seed0.json").read_text())
    assert "flattened state" in resnet["ood_skipped"]
    html = (results / "reports/lennard_jones.html").read_text()
    assert "Split by N" in html and "N = 64" in html and "cannot run at N = 64" in html
    assert "Traceback" not in html

"""The real Snakefile without training: bad input and broken plugins stop it before any job, lint,
config overrides, threads per job, and a dropped-in plugin in the DAG."""

import re
import textwrap

import pytest

from phasebench.config import gpu_present

from conftest import DROP_IN, REPO, snakemake


def write_config(root, text):
    (root / "bad.yaml").write_text(textwrap.dedent(text))
    return "bad.yaml"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("trainingg: {}\n", "bad.yaml: unknown key 'trainingg' in the top level; accepted keys:"),
        ("training: {max_epochs: ten}\n", "bad.yaml: training.max_epochs must be of type integer"),
        ("models: [resnett]\n", "bad.yaml: models[0] names unknown model plugin 'resnett'"),
        ("systems: [pendulumm]\n", "bad.yaml: systems[0] names unknown system 'pendulumm'"),
        (
            "models: [{plugin: lstm, hparams: {hiden: 3}}]\n",
            "bad.yaml: models[0].hparams: unknown hyperparameter 'hiden' of model plugin 'lstm'",
        ),
    ],
)
def test_bad_config_stops_before_any_job(workflow_copy, config, message):
    result = snakemake(
        workflow_copy, "--cores", "1", "--configfile", write_config(workflow_copy, config)
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("phasebench: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not (workflow_copy / "results").exists()


def test_snakemake_lint_finds_nothing_but_the_missing_software_environments():
    # Before: helper functions mixed with rules in the Snakefile and PHASEBENCH_ROOT used
    # without an envvars directive. The jobs run the venv's tools, so no conda/container.
    result = snakemake(REPO, "--lint", "text")
    lints = re.findall(r"^\s+\* (.+?):$", result.stdout + result.stderr, re.M)
    assert lints and set(lints) == {"Specify a conda environment or container for each rule."}


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_gpu_asked_of_a_machine_without_one_stops_before_any_job(workflow_copy):
    config = write_config(workflow_copy, "models: [resnet]\ntraining: {accelerator: gpu}\n")
    dry = snakemake(workflow_copy, "-n", "--configfile", config)
    assert dry.returncode == 0, dry.stderr  # a dry run may plan for a cluster's GPUs
    result = snakemake(workflow_copy, "--cores", "1", "--configfile", config)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("phasebench: ")]
    assert len(errors) == 1, result.stderr
    assert (
        "training.accelerator asks for a GPU (models resnet), but this machine has none"
        in (errors[0])
    )
    assert not (workflow_copy / "results").exists()


def test_config_overrides_read_as_yaml(workflow_copy):
    # Snakemake hands nested --config values over as strings; they must read like a config file.
    result = snakemake(
        workflow_copy, "-n", "-p", "--config", "seeds=[0, 3]", "training={max_epochs: 1}",
        'report={title: "1.0"}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "coupled_oscillator/resnet/seed3/best.ckpt" in result.stdout
    assert '"max_epochs": 1,' in result.stdout and '"max_epochs": 30' not in result.stdout
    assert '"title": "1.0"' in result.stdout  # a quoted string stays a string


def test_every_job_runs_with_the_threads_snakemake_gives_it(workflow_copy):
    # training.threads 3 on one core: Snakemake scales the job to 1 thread, and so must torch.
    result = snakemake(
        workflow_copy, "-n", "-p", "--cores", "1", "--config", "training={threads: 3}"
    )
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "phasebench train " in line]
    assert commands and all(" --threads 1 " in command for command in commands)
    # The other jobs' torch and BLAS get their one thread through OMP_NUM_THREADS.
    programs = ("phasebench simulate ", "phasebench evaluate ", "phasebench evaluate-integrator ")
    for program in (*programs, "papermill "):
        others = [line for line in result.stdout.splitlines() if program in line]
        assert others and all(f"OMP_NUM_THREADS=1 {program}" in line for line in others), program


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("class Broken(ModelPlugin:\n    pass\n", "plugins/models/broken.py:1: syntax error"),
        ("import torch\n\nX = 1\n", "plugins/models/broken.py:1: no plugin class found"),
    ],
)
def test_broken_plugin_stops_before_any_job(workflow_copy, source, message):
    (workflow_copy / "plugins/models/broken.py").write_text(source)
    result = snakemake(workflow_copy, "--cores", "1")
    assert result.returncode != 0
    assert f"phasebench: {workflow_copy}/{message}" in result.stderr
    assert not (workflow_copy / "results").exists()


def test_dropped_in_plugin_appears_in_the_dag(workflow_copy):
    (workflow_copy / "plugins/models/linear_step.py").write_text(DROP_IN)
    result = snakemake(workflow_copy, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    dry = snakemake(workflow_copy, "-n")
    assert "results/runs/coupled_oscillator/linear_step/seed0/best.ckpt" in dry.stdout

"""The real Snakefile: bad input stops it before any job, and the CI experiment runs end to end."""

import html
import json
import re
import shutil
import textwrap

import pytest

from phasebench.config import gpu_present

from conftest import DROP_IN, REPO, job_counts, snakemake


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


# Three ways a model plugin can crash before training starts: each is recorded, not fatal.
CRASHING = {
    "broken_import": (
        DROP_IN.replace("from torch import nn", "import not_installed_anywhere\nimport torch"),
        "import failed: ModuleNotFoundError: No module named 'not_installed_anywhere'",
    ),
    "broken_init": (
        DROP_IN.replace("super().__init__(spec)", "raise ValueError('no weights today')"),
        "failed to build with {'bias': True}: ValueError: no weights today",
    ),
    "broken_module": (
        DROP_IN + "\nraise RuntimeError('crash at import')\n",
        "import failed: RuntimeError: crash at import",
    ),
}


@pytest.mark.slow  # a real pipeline of four models on two seeds, about a minute
def test_crashing_plugins_are_recorded_and_the_reports_complete(workflow_copy):
    for name, (source, _) in CRASHING.items():
        module = source.replace('"linear_step"', f'"{name}"')
        (workflow_copy / f"plugins/models/{name}.py").write_text(module)
    (workflow_copy / "crash.yaml").write_text(
        f"models: [resnet, {', '.join(CRASHING)}]\nseeds: [0, 1]\n"
        "studies: {attention_kernels: {enabled: false}}\n"
    )
    args = ("--cores", "2", "--configfile", "configs/ci.yaml", "crash.yaml")
    result = snakemake(workflow_copy, *args)
    # The run still fails, last, with one sentence naming every failed run and its reason.
    assert result.returncode != 0
    assert "6 of 8 training run(s) failed" in result.stdout + result.stderr, result.stderr[-3000:]
    results = workflow_copy / "results"
    assert not (results / "runs/completed.txt").exists()
    # ... after the healthy model was evaluated and every report was rendered.
    for seed in (0, 1):
        scalars = results / f"eval/coupled_oscillator/resnet/seed{seed}.json"
        healthy = json.loads(scalars.read_text())
        assert healthy["final_error"] < 10 and "status" not in healthy
    system_html = (results / "reports/coupled_oscillator.html").read_text()
    index_html = (results / "reports/index.html").read_text()
    assert "Failed runs" in system_html and "Failed runs" in index_html
    # The one pipeline of the suite with two seeds: the leaderboard aggregates them.
    row = system_html.split("<th>resnet</th>", 1)[1].split("</tr>", 1)[0]
    assert re.match(r"\s*<td>2</td>", row) and "±" in row, row  # 2 seeds, mean ± std
    for name, (_, reason) in CRASHING.items():
        run = f"coupled_oscillator/{name}/seed1"
        summary = json.loads((results / f"runs/{run}/train.json").read_text())
        assert summary["status"] == "failed" and reason in summary["failure"]
        scalars = json.loads((results / f"eval/{run}.json").read_text())
        assert scalars["status"] == "failed" and reason in scalars["failure"]
        assert f"results/runs/{run} (" in result.stdout + result.stderr
        for page in (system_html, index_html):
            # The reason as rendered (the report's Markdown escapes quotes).
            assert name in page and html.escape(reason.split("'")[0]) in page, (name, reason)
    for page in (system_html, index_html):
        assert "Traceback" not in page
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page
    # Nothing else to do, but the next invocation fails again until the plugins are fixed.
    again = snakemake(workflow_copy, *args)
    assert again.returncode != 0 and "6 of 8 training run(s) failed" in again.stdout + again.stderr
    assert job_counts(again.stderr) == {"check_runs": 1, "all": 1}


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

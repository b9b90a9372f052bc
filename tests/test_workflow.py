"""The real Snakefile: bad input stops it before any job, and the CI experiment runs end to end."""

import json
import re
import textwrap

import pytest

from conftest import snakemake

DROP_IN = '''
"""A linear one-step map x_{n+1} = x_n + A x_n, dropped in by a test."""
from torch import nn

from phasebench import ModelPlugin


class LinearStep(ModelPlugin):
    name = "linear_step"
    family = "feed-forward"

    def __init__(self, spec, bias: bool = True):
        super().__init__(spec)
        self.map = nn.Linear(spec.dim, spec.dim, bias=bias)

    def forward(self, window):
        return window + self.map(window)
'''


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


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


def test_plugin_with_failing_import_fails_only_its_own_jobs(workflow_copy):
    body = DROP_IN.replace(
        "from torch import nn", "import not_installed_anywhere\nfrom torch import nn"
    )
    (workflow_copy / "plugins/models/linear_step.py").write_text(body)
    (workflow_copy / "two.yaml").write_text("models: [resnet, linear_step]\nseeds: [0]\n")
    result = snakemake(workflow_copy, "--cores", "2", "--configfile", "configs/ci.yaml", "two.yaml")
    assert result.returncode != 0
    log = workflow_copy / "results/logs/train/coupled_oscillator/linear_step/seed0.log"
    assert "import failed: ModuleNotFoundError: No module named 'not_installed_anywhere'" in (
        log.read_text()
    )
    # The healthy model was trained and evaluated all the same (keep-going profile).
    assert (workflow_copy / "results/eval/coupled_oscillator/resnet/seed0.json").is_file()


@pytest.mark.slow
def test_ci_experiment_end_to_end(workflow_copy):
    (workflow_copy / "plugins/models/linear_step.py").write_text(DROP_IN)
    args = ("--cores", "2", "--configfile", "configs/ci.yaml")
    result = snakemake(workflow_copy, *args)
    assert result.returncode == 0, result.stderr[-3000:]

    results = workflow_copy / "results"
    models = ["linear_step", "lstm", "resnet", "resnet_small"]
    assert (results / "data/coupled_oscillator.zarr/zarr.json").is_file()
    for model in models:
        for seed in (0, 1):
            run = results / f"runs/coupled_oscillator/{model}/seed{seed}"
            assert {p.name for p in run.iterdir()} >= {
                "best.ckpt",
                "metrics.csv",
                "hparams.yaml",
                "train.json",
            }
            scalars = json.loads(
                (results / f"eval/coupled_oscillator/{model}/seed{seed}.json").read_text()
            )
            assert scalars["model"] == model and scalars["seed"] == seed
            window = json.loads((run / "train.json").read_text())["input_steps"]
            assert scalars["rollout_steps"] + window == 61  # whole test trajectories

    for report in ("coupled_oscillator.html", "index.html"):
        html = (results / "reports" / report).read_text()
        for model in models:
            assert model in html, (report, model)
        # No exception, warning or other stderr output made it into the report.
        assert (
            "Traceback" not in html
            and 'data-mime-type="application/vnd.jupyter.stderr"' not in html
        )
    assert (results / "logs/reports/coupled_oscillator.ipynb").is_file()
    system_html = (results / "reports/coupled_oscillator.html").read_text()
    assert system_html.count('src="data:image/png;base64') == 2  # error and energy plots
    assert "phasebench CI" in system_html

    study = (results / "reports/studies/attention_kernels.html").read_text()
    assert (
        "Traceback" not in study and 'data-mime-type="application/vnd.jupyter.stderr"' not in study
    )
    assert study.count('src="data:image/png;base64') == 4  # error vs m, vs L, vs angle, learned

    # Nothing changed: nothing to do.
    again = snakemake(workflow_copy, *args, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # Editing one plugin retrains only that model.
    lstm = workflow_copy / "plugins/models/lstm.py"
    lstm.write_text(lstm.read_text() + "\n# edited\n")
    plan = snakemake(workflow_copy, *args, "-n")
    counts = job_counts(plan.stdout)
    assert counts["train"] == 2 and counts["evaluate"] == 2
    assert "runs/coupled_oscillator/lstm/seed0" in plan.stdout
    assert "runs/coupled_oscillator/resnet/seed0/best.ckpt" not in plan.stdout.split("Job stats")[0]

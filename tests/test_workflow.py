"""The real Snakefile: bad input stops it before any job, and the CI experiment runs end to end."""

import html
import json
import os
import re
import shutil
import textwrap

import pytest

from phasebench.config import gpu_present

from conftest import CHROMIUM_FLAGS, REPO, copy_workflow, job_counts, phasebench_cli, snakemake

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


def test_a_training_job_runs_with_the_threads_snakemake_gives_it(workflow_copy):
    # training.threads 3 on one core: Snakemake scales the job to 1 thread, and so must torch.
    result = snakemake(
        workflow_copy, "-n", "-p", "--cores", "1", "--config", "training={threads: 3}"
    )
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "phasebench train " in line]
    assert commands and all(" --threads 1 " in command for command in commands)


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


@pytest.mark.slow  # a real pipeline of four models, about a minute
def test_crashing_plugins_are_recorded_and_the_reports_complete(workflow_copy):
    for name, (source, _) in CRASHING.items():
        module = source.replace('"linear_step"', f'"{name}"')
        (workflow_copy / f"plugins/models/{name}.py").write_text(module)
    (workflow_copy / "crash.yaml").write_text(
        f"models: [resnet, {', '.join(CRASHING)}]\nseeds: [0]\n"
        "studies: {attention_kernels: {enabled: false}}\n"
    )
    args = ("--cores", "2", "--configfile", "configs/ci.yaml", "crash.yaml")
    result = snakemake(workflow_copy, *args)
    # The run still fails, last, with one sentence naming every failed run and its reason.
    assert result.returncode != 0
    assert "3 of 4 training run(s) failed" in result.stdout + result.stderr, result.stderr[-3000:]
    results = workflow_copy / "results"
    assert not (results / "runs/completed.txt").exists()
    # ... after the healthy model was evaluated and every report was rendered.
    healthy = json.loads((results / "eval/coupled_oscillator/resnet/seed0.json").read_text())
    assert healthy["final_error"] < 10 and "status" not in healthy
    system_html = (results / "reports/coupled_oscillator.html").read_text()
    index_html = (results / "reports/index.html").read_text()
    assert "Failed runs" in system_html and "Failed runs" in index_html
    for name, (_, reason) in CRASHING.items():
        run = f"coupled_oscillator/{name}/seed0"
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
    assert again.returncode != 0 and "3 of 4 training run(s) failed" in again.stdout + again.stderr
    assert job_counts(again.stderr) == {"check_runs": 1, "all": 1}


MODELS = ["linear_step", "lstm", "resnet", "resnet_small", "resnet_diverging", "performer_favor"]
CI_ARGS = ("--cores", "2", "--configfile", "configs/ci.yaml", "extra.yaml")
# The CI experiment plus a dropped-in plugin and a variant whose training blows up.
EXTRA_CONFIG = """
models:
  - all
  - {plugin: resnet, name: resnet_small, hparams: {width: 16, depth: 1}}
  - {plugin: resnet, name: resnet_diverging, training: {lr: 1.0e+30}}
  - {plugin: resnet, name: resnet_sweep, grid: {hparams: {width: [8, 32]}}}
"""


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    """The CI experiment, run once by the real Snakefile in a copy of the workflow."""
    root = copy_workflow(tmp_path_factory.mktemp("ci"))
    (root / "plugins/models/linear_step.py").write_text(DROP_IN)
    (root / "extra.yaml").write_text(EXTRA_CONFIG)
    result = snakemake(root, *CI_ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.mark.slow
def test_every_stage_writes_its_outputs(ci_run):
    results = ci_run / "results"
    assert (results / "data/coupled_oscillator.zarr/zarr.json").is_file()
    for model in MODELS:
        for seed in (0, 1):
            run = results / f"runs/coupled_oscillator/{model}/seed{seed}"
            names = {p.name for p in run.iterdir()}
            assert names >= {"best.ckpt", "metrics.csv", "hparams.yaml", "train.json", "budgets"}
            assert names.isdisjoint({"progress", "resume.ckpt"})  # a finished run leaves none
            scalars = json.loads(
                (results / f"eval/coupled_oscillator/{model}/seed{seed}.json").read_text()
            )
            assert scalars["model"] == model and scalars["seed"] == seed
            window = json.loads((run / "train.json").read_text())["input_steps"]
            assert scalars["rollout_steps"] + window == 61  # whole test trajectories
            if model != "resnet_diverging":  # budgets 1 and 2 of 3 epochs, then the trained model
                curve = scalars["budget_curve"]
                assert [p["epoch"] for p in curve] == [1, 2, scalars["epochs"]]
                assert all(p["val_error_t10"] is not None for p in curve)
    for integrator in ("yoshida4", "rk4"):  # the data's integrator and RK4
        reference = json.loads(
            (results / f"eval/coupled_oscillator/numerical/{integrator}.json").read_text()
        )
        assert reference["family"] == "numerical method" and reference["final_error"] < 1
    assert (results / "logs/reports/coupled_oscillator.ipynb").is_file()
    # A job's stderr is no terminal: its log gets a line an epoch, and no Lightning advertisement.
    log = (results / "logs/train/coupled_oscillator/resnet/seed0.log").read_text()
    epochs = [line for line in log.splitlines() if line.startswith("epoch ")]
    assert epochs[0].startswith("epoch 1/3: train_loss ") and " val_loss " in epochs[0]
    assert " lr " in epochs[0] and epochs[0].endswith(" s") and "Tip" not in log


@pytest.mark.slow
def test_diverging_training_is_recorded_and_the_rest_completes(ci_run):
    runs = ci_run / "results/runs/coupled_oscillator"
    summary = json.loads((runs / "resnet_diverging/seed0/train.json").read_text())
    assert summary["status"] == "diverged" and summary["best_val_loss"] is None
    scalars = json.loads(
        (ci_run / "results/eval/coupled_oscillator/resnet_diverging/seed0.json").read_text()
    )
    assert scalars["diverged"] and scalars["training_diverged"]
    healthy = json.loads((runs / "resnet/seed0/train.json").read_text())
    assert healthy["status"] == "ok"
    html = (ci_run / "results/reports/coupled_oscillator.html").read_text()
    assert "diverged (2/2)" in html and "Diverged runs" in html


@pytest.mark.slow
def test_reports_name_every_model_and_hold_no_errors(ci_run):
    reports = ci_run / "results/reports"
    for report in ("coupled_oscillator.html", "index.html"):
        html = (reports / report).read_text()
        for model in MODELS:
            assert model in html, (report, model)
        # No exception, warning or other stderr output made it into the report.
        assert "Traceback" not in html
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html
        assert 'src="http' not in html  # nothing to fetch: opens offline
    system_html = (reports / "coupled_oscillator.html").read_text()
    # The experiment's hash and the data's two (its settings, its states) have distinct names.
    for section in (
        "Leaderboard",
        "Provenance",
        "Experiment hash",
        "simulation_hash",
        "state_hash",
    ):
        assert section in system_html, section
    for section in (
        "Rollout error over time",
        "Energy error over time",
        "Phase portraits",
        "Accuracy against cost",
        "Rollout error against training budget",
    ):
        assert images_under(system_html, section) >= 1, section
    assert "numerical: yoshida4" in system_html and "phasebench CI" in system_html
    assert images_under(system_html, "Sweep of <code>resnet_sweep</code>") >= 1
    assert "Out of distribution" in system_html
    assert images_under(system_html, "Error against the swept parameter <code>k</code>") >= 1
    assert images_under(system_html, "Out of distribution") >= 1


def images_under(html: str, heading: str) -> int:
    """How many embedded images lie between the heading that contains `heading` and the next."""
    parts = re.split(r"<h[1-6][ >]", html)
    sections = [part for part in parts if heading in part.split("</h", 1)[0]]
    assert sections, f"no heading contains {heading!r}"
    return sum(section.count('src="data:image/png;base64') for section in sections)


def chromium() -> str | None:
    return shutil.which("chromium")


@pytest.mark.slow
def test_reports_load_in_headless_chromium_without_errors(ci_run):
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        for report in ("coupled_oscillator.html", "index.html"):
            text, problems, images = open_in_browser(browser, ci_run / "results/reports" / report)
            assert problems == [], (report, problems)
            for model in MODELS:
                assert model in text, (report, model)
            assert all(width > 0 for width in images)  # every plot decoded
        browser.close()


def open_in_browser(browser, path):
    """The page's visible text, its errors and failed requests, and its images' widths."""
    page = browser.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri(), wait_until="load")
    images = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    return page.inner_text("body"), problems, images


@pytest.mark.slow
def test_attention_kernel_study_report(ci_run):
    study = (ci_run / "results/reports/studies/attention_kernels.html").read_text()
    assert "Traceback" not in study
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in study
    assert 'src="http' not in study  # nothing to fetch: opens offline
    for section in (
        "Attention-kernel study",
        "Queries and keys of a trained",
        "Error against sequence length",
        "Hybrid against its parts",
        "Learned f_θ against random features",
    ):
        assert images_under(study, section) >= 1, section
    assert (
        "Queries and keys of a trained <code>transformer</code> on <code>coupled_oscillator"
        in study
    )
    index = (ci_run / "results/reports/index.html").read_text()
    assert 'href="studies/attention_kernels.html"' in index  # the overview links the study


@pytest.mark.slow
def test_vision_study_report(ci_run):
    reports = ci_run / "results/reports"
    study = (reports / "studies/vision.html").read_text()
    assert "Traceback" not in study
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in study
    assert 'src="http' not in study  # nothing to fetch: opens offline
    for name in ("vit_softmax", "vit_favor", "deep_stiefel", "deep_unconstrained", "1-NN"):
        assert name in study, name
    for section in ("Stratified random 80/20 split", "Sequential 50/50 split", "Goals"):
        assert section in study, section
    # accuracy per split, and the deep models' training losses
    assert study.count('src="data:image/png;base64') == 2
    index = (reports / "index.html").read_text()
    assert 'href="studies/vision.html"' in index
    assert 'href="studies/attention_kernels.html"' in index


@pytest.mark.slow
def test_rerun_with_nothing_changed_does_nothing(ci_run):
    again = snakemake(ci_run, *CI_ARGS, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_editing_one_plugin_retrains_only_that_model(ci_run):
    lstm = ci_run / "plugins/models/lstm.py"
    original = lstm.read_text()
    lstm.write_text(original + "\n# edited\n")
    try:
        plan = snakemake(ci_run, *CI_ARGS, "-n")
    finally:
        lstm.write_text(original)
    counts = job_counts(plan.stdout)
    assert counts["train"] == 2 and counts["evaluate"] == 2
    assert "runs/coupled_oscillator/lstm/seed0" in plan.stdout
    assert "runs/coupled_oscillator/resnet/seed0/best.ckpt" not in plan.stdout


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

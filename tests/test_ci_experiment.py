"""The CI experiment (configs/ci.yaml with a dropped-in plugin, a diverging variant and a
sweep) run once by the real Snakefile, and what its outputs and reports must hold."""

import json
import os
import re
import shutil

import pytest

from conftest import CHROMIUM_FLAGS, DROP_IN, copy_workflow, job_counts, snakemake

MODELS = ["linear_step", "lstm", "resnet", "resnet_small", "resnet_diverging", "performer_favor"]
CI_ARGS = ("--cores", "2", "--configfile", "configs/ci.yaml", "extra.yaml")
# The CI experiment with one or two plugins of each family (test_conformance.py trains, saves
# and reloads every plugin; a job here is ~10 s of imports, so all 16 would double the run),
# a dropped-in plugin and a variant whose training blows up. The attention study reads the
# transformer; la_sympnet brings the symplectic maps' conservation rows.
EXTRA_CONFIG = """
models:
  - linear_step
  - lstm
  - resnet
  - transformer
  - performer_favor
  - la_sympnet
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
    result = snakemake(root, *CI_ARGS, timeout=1800)  # minutes on a busy machine
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.mark.slow
def test_every_stage_writes_its_outputs(ci_run):
    results = ci_run / "results"
    assert (results / "data/coupled_oscillator.zarr/zarr.json").is_file()
    for model in MODELS:
        for seed in (0,):
            run = results / f"runs/coupled_oscillator/{model}/seed{seed}"
            names = {p.name for p in run.iterdir()}
            assert names >= {"best.ckpt", "metrics.csv", "hparams.yaml", "train.json", "budgets"}
            assert names.isdisjoint({"progress", "resume.ckpt"})  # a finished run leaves none
            scalars = json.loads(
                (results / f"eval/coupled_oscillator/{model}/seed{seed}.json").read_text()
            )
            assert scalars["model"] == model and scalars["seed"] == seed
            assert scalars["threads"] == 1  # the job's one thread, not every core
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
    assert "diverged (1/1)" in html and "Diverged runs" in html


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
    assert counts["train"] == 1 and counts["evaluate"] == 1  # lstm, on the one seed
    assert "runs/coupled_oscillator/lstm/seed0" in plan.stdout
    assert "runs/coupled_oscillator/resnet/seed0/best.ckpt" not in plan.stdout

"""A pipeline with model plugins that crash: each failure is recorded in one sentence, the
healthy model is evaluated on two seeds and every report still renders."""

import html
import json
import re

import pytest

from conftest import DROP_IN, job_counts, snakemake

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
        "studies: {attention_kernels: {enabled: false}, vision: {enabled: false}}\n"
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

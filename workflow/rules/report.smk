# papermill executes the report notebooks (kernel python3) and nbconvert renders them as HTML
# without code cells. The executed notebooks are logs, so they survive a failing cell.

NOTEBOOKS = ROOT / "workflow" / "notebooks"
HTML_TEMPLATE = NOTEBOOKS / "templates" / "offline.html.j2"


def eval_outputs(system):
    prefix = f"results/eval/{system}"
    models = [f"{prefix}/{m}/seed{s}" for m, s in runs_of(system)]
    numerical = [f"{prefix}/numerical/{i}" for i in SYSTEMS[system]["reference_integrators"]]
    return [f"{path}.{ext}" for path in models + numerical for ext in ("json", "zarr")]


def report_parameters(**extra):
    """The notebook's parameters, as YAML-compatible JSON for `papermill -y`."""
    common = {
        "results_dir": str(Path("results").resolve()),
        "title": PLAN["report"]["title"],
        "config_hash": PLAN["config_hash"],
    }
    return json.dumps({**common, **extra})


rule report_system:
    input:
        notebook=NOTEBOOKS / "system_report.ipynb",
        template=HTML_TEMPLATE,
        code=CODE.of(NOTEBOOKS / "system_report.ipynb"),
        results=lambda w: eval_outputs(w.system),
    output:
        "results/reports/{system}.html",
    params:
        notebook_parameters=lambda w: report_parameters(
            system=w.system,
            models=sorted({m for m, _ in runs_of(w.system)}),
            seeds=SEEDS,
            integrators=SYSTEMS[w.system]["reference_integrators"],
            sweeps=PLAN["sweeps"],
            select_by=PLAN["select_by"],
            skipped=[s for s in PLAN["skipped"] if s["system"] == w.system],
        ),
    log:
        notebook="results/logs/reports/{system}.ipynb",
    shell:
        "papermill {input.notebook:q} {log.notebook:q} -k python3 --log-output"
        " -y {params.notebook_parameters:q}"
        " && jupyter nbconvert --to html --no-input --template-file {input.template:q}"
        " {log.notebook:q}"
        " --output-dir results/reports --output {wildcards.system:q}"


rule report_index:
    input:
        notebook=NOTEBOOKS / "overview.ipynb",
        template=HTML_TEMPLATE,
        code=CODE.of(NOTEBOOKS / "overview.ipynb"),
        reports=expand("results/reports/{system}.html", system=SYSTEMS),
        results=[path for system in SYSTEMS for path in eval_outputs(system)],
    output:
        "results/reports/index.html",
    params:
        notebook_parameters=report_parameters(
            systems=list(SYSTEMS),
            runs=PLAN["runs"],
            seeds=SEEDS,
            skipped=PLAN["skipped"],
            sweeps=PLAN["sweeps"],
            select_by=PLAN["select_by"],
            # Links from the overview; each study is its own target of rule all.
            studies=[name for name, study in PLAN["studies"].items() if study["enabled"]],
        ),
    log:
        notebook="results/logs/reports/index.ipynb",
    shell:
        "papermill {input.notebook:q} {log.notebook:q} -k python3 --log-output"
        " -y {params.notebook_parameters:q}"
        " && jupyter nbconvert --to html --no-input --template-file {input.template:q}"
        " {log.notebook:q}"
        " --output-dir results/reports --output index"

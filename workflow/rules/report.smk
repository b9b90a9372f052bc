# papermill executes the report notebooks (kernel python3) and nbconvert renders them as HTML
# without code cells. The executed notebooks are logs, so they survive a failing cell.

NOTEBOOKS = ROOT / "workflow" / "notebooks"
HTML_TEMPLATE = NOTEBOOKS / "templates" / "offline.html.j2"


rule report_system:
    input:
        notebook=NOTEBOOKS / "system_report.ipynb",
        template=HTML_TEMPLATE,
        code=CODE.of(NOTEBOOKS / "system_report.ipynb"),
        data="results/data/{system}.zarr",
        results=lambda w: eval_outputs(w.system),
    output:
        "results/reports/{system}.html",
    log:
        notebook="results/logs/reports/{system}.ipynb",
    params:
        notebook_parameters=lambda w, input: report_parameters(
            system=w.system,
            data=absolute(input.data),
            evaluations=with_absolute_paths(model_evaluations(w.system)),
            numerical=with_absolute_paths(numerical_evaluations(w.system)),
            models=sorted({m for m, _ in runs_of(w.system)}),
            seeds=SEEDS,
            sweeps=PLAN["sweeps"],
            select_by=PLAN["select_by"],
            skipped=[s for s in PLAN["skipped"] if s["system"] == w.system],
        ),
    shell:
        "OMP_NUM_THREADS={threads} papermill {input.notebook:q} {log.notebook:q} -k python3 --log-output"
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
    log:
        notebook="results/logs/reports/index.ipynb",
    params:
        notebook_parameters=report_parameters(
            systems=list(SYSTEMS),
            # The runs' scalars; each system's report is linked by its name beside this page.
            evaluations=with_absolute_paths(
                [entry for system in SYSTEMS for entry in model_evaluations(system)]
            ),
            skipped=PLAN["skipped"],
            sweeps=PLAN["sweeps"],
            select_by=PLAN["select_by"],
            # Links from the overview; each study is its own target of rule all.
            studies=[name for name, study in PLAN["studies"].items() if study["enabled"]],
        ),
    shell:
        "OMP_NUM_THREADS={threads} papermill {input.notebook:q} {log.notebook:q} -k python3 --log-output"
        " -y {params.notebook_parameters:q}"
        " && jupyter nbconvert --to html --no-input --template-file {input.template:q}"
        " {log.notebook:q}"
        " --output-dir results/reports --output index"

# Optional studies (config `studies:`), each a papermill notebook rendered without code like the
# reports. They depend on nothing else in the pipeline.

ATTENTION_STUDY = PLAN["studies"]["attention_kernels"]


rule study_attention_kernels:
    input:
        unpack(trained_attention),
        notebook=NOTEBOOKS / "attention_kernels.ipynb",
        template=HTML_TEMPLATE,
        code=CODE.of(NOTEBOOKS / "attention_kernels.ipynb"),
    output:
        "results/reports/studies/attention_kernels.html",
    log:
        notebook="results/logs/reports/studies/attention_kernels.ipynb",
    params:
        notebook_parameters=lambda w: json.dumps(
            {k: v for k, v in ATTENTION_STUDY.items() if k != "enabled"}
            | {f"trained_{k}": str(Path(v).absolute()) for k, v in trained_attention(w).items()}
        ),
    shell:
        "OMP_NUM_THREADS={threads} papermill {input.notebook:q} {log.notebook:q} -k python3 --log-output"
        " -y {params.notebook_parameters:q}"
        " && jupyter nbconvert --to html --no-input --template-file {input.template:q}"
        " {log.notebook:q} --output-dir results/reports/studies --output attention_kernels"


VISION_STUDY = PLAN["studies"]["vision"]


rule study_vision:
    input:
        notebook=NOTEBOOKS / "vision.ipynb",
        template=HTML_TEMPLATE,
    output:
        page="results/reports/studies/vision.html",
        numbers="results/reports/studies/vision.json",
    log:
        notebook="results/logs/reports/studies/vision.ipynb",
    # One core per training run at once (studies.vision.workers); the notebook gets the cores
    # Snakemake grants, fewer where --cores is smaller.
    threads: VISION_STUDY["workers"]
    params:
        notebook_parameters=lambda w, output, threads: json.dumps(
            {k: v for k, v in VISION_STUDY.items() if k != "enabled"}
            | {"workers": threads, "numbers": str(Path(output.numbers).absolute())}
        ),
    shell:
        "OMP_NUM_THREADS={threads} papermill {input.notebook:q} {log.notebook:q} -k python3 --log-output"
        " -y {params.notebook_parameters:q}"
        " && jupyter nbconvert --to html --no-input --template-file {input.template:q}"
        " {log.notebook:q} --output-dir results/reports/studies --output vision"

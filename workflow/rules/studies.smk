# Optional studies (config `studies:`), each a papermill notebook rendered without code like the
# reports. They depend on nothing else in the pipeline.

ATTENTION_STUDY = PLAN["studies"]["attention_kernels"]


rule study_attention_kernels:
    input:
        notebook=NOTEBOOKS / "attention_kernels.ipynb",
        template=HTML_TEMPLATE,
    output:
        "results/reports/studies/attention_kernels.html",
    params:
        notebook_parameters=json.dumps(
            {k: v for k, v in ATTENTION_STUDY.items() if k != "enabled"}
        ),
    log:
        notebook="results/logs/reports/studies/attention_kernels.ipynb",
    shell:
        "papermill {input.notebook:q} {log.notebook:q} -k python3 --log-output"
        " -y {params.notebook_parameters:q}"
        " && jupyter nbconvert --to html --no-input --template-file {input.template:q}"
        " {log.notebook:q} --output-dir results/reports/studies --output attention_kernels"

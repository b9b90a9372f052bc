# Roll a trained model out over the whole test trajectories; errors per step and scalars.


rule evaluate:
    input:
        checkpoint="results/runs/{system}/{model}/seed{seed}/best.ckpt",
        summary="results/runs/{system}/{model}/seed{seed}/train.json",
        budgets="results/runs/{system}/{model}/seed{seed}/budgets",
        data="results/data/{system}.zarr",
        code=CODE.of("phasebench.evaluation"),
    output:
        curves=directory("results/eval/{system}/{model}/seed{seed}.zarr"),
        scalars="results/eval/{system}/{model}/seed{seed}.json",
    log:
        "results/logs/evaluate/{system}/{model}/seed{seed}.log",
    params:
        settings=json.dumps(PLAN["evaluation"]),
    shell:
        "OMP_NUM_THREADS={threads} phasebench evaluate --settings {params.settings:q} --model {wildcards.model:q}"
        " --checkpoint {input.checkpoint:q} --train-json {input.summary:q}"
        " --budgets {input.budgets:q}"
        " --data {input.data:q} --out-zarr {output.curves:q} --out-json {output.scalars:q}"
        " 2>&1 | tee {log:q}"


rule evaluate_integrator:
    # The system's own integrators, one step per saved sample: the reports' reference rows.
    input:
        data="results/data/{system}.zarr",
        code=CODE.of("phasebench.evaluation"),
    output:
        curves=directory("results/eval/{system}/numerical/{integrator}.zarr"),
        scalars="results/eval/{system}/numerical/{integrator}.json",
    log:
        "results/logs/evaluate/{system}/numerical/{integrator}.log",
    params:
        settings=json.dumps(PLAN["evaluation"]),
    shell:
        "OMP_NUM_THREADS={threads} phasebench evaluate-integrator --settings {params.settings:q}"
        " --integrator {wildcards.integrator:q} --data {input.data:q}"
        " --out-zarr {output.curves:q} --out-json {output.scalars:q} 2>&1 | tee {log:q}"

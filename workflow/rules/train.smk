# Train one model plugin on one system with one seed (Lightning). The plugin file and the library
# modules it and the trainer run are inputs, so editing a plugin retrains that model only. Outputs appear when training finishes; until
# then the run lives in the undeclared progress/ folder, from which a killed job resumes.


rule train:
    input:
        data="results/data/{system}.zarr",
        plugin=lambda w: MODELS[w.model]["plugin_path"],
        code=lambda w: CODE.of("phasebench.training", MODELS[w.model]["plugin_path"]),
    output:
        checkpoint="results/runs/{system}/{model}/seed{seed}/best.ckpt",
        metrics="results/runs/{system}/{model}/seed{seed}/metrics.csv",
        hparams="results/runs/{system}/{model}/seed{seed}/hparams.yaml",
        summary="results/runs/{system}/{model}/seed{seed}/train.json",
        budgets=directory("results/runs/{system}/{model}/seed{seed}/budgets"),
    log:
        "results/logs/train/{system}/{model}/seed{seed}.log",
    # training.threads; Snakemake may scale it down to --cores (locally) and the SLURM executor
    # asks for that many CPUs. The trainer uses exactly {threads}, not the config's number.
    threads: lambda w: MODELS[w.model]["training"]["threads"]
    resources:
        # SLURM's executor turns gpu=1 into a GPU request; 0 asks for none.
        gpu=lambda w: int(MODELS[w.model]["training"]["accelerator"] in ("gpu", "cuda")),
    params:
        settings=lambda w: json.dumps(
            experiment.train_settings(MODELS[w.model], int(w.seed), PLAN["evaluation"]["budgets"])
        ),
        out=lambda w, output: Path(output.checkpoint).parent,
    shell:
        "phasebench train --settings {params.settings:q} --data {input.data:q}"
        " --out {params.out:q} --threads {threads} --die-with-parent 2>&1 | tee {log:q}"

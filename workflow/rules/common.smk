# The Snakefile's helper functions: the runs of the plan, and the paths of their outputs that
# the report rules pass to the notebooks (the rules own every path; the notebooks get them).


def runs_of(system):
    """(model, seed) pairs trained on `system`: compatible models only."""
    return [(r["model"], s) for r in PLAN["runs"] if r["system"] == system for s in SEEDS]


def absolute(path):
    return str(Path(path).absolute())


def model_evaluations(system):
    """Per (model, seed) run on `system`: its evaluation's scalars (JSON) and curves (Zarr)."""
    return [
        {
            "system": system,
            "model": model,
            "seed": seed,
            "scalars": f"results/eval/{system}/{model}/seed{seed}.json",
            "curves": f"results/eval/{system}/{model}/seed{seed}.zarr",
        }
        for model, seed in runs_of(system)
    ]


def numerical_evaluations(system):
    """Per reference integrator of `system`: its evaluation's scalars and curves."""
    return [
        {
            "integrator": integrator,
            "scalars": f"results/eval/{system}/numerical/{integrator}.json",
            "curves": f"results/eval/{system}/numerical/{integrator}.zarr",
        }
        for integrator in SYSTEMS[system]["reference_integrators"]
    ]


def eval_outputs(system):
    """Every evaluation output of `system`: the report rules' inputs."""
    entries = model_evaluations(system) + numerical_evaluations(system)
    return [entry[kind] for entry in entries for kind in ("scalars", "curves")]


def with_absolute_paths(entries):
    """The entries with their paths absolute, for a notebook (whose kernel may run elsewhere)."""
    return [
        {k: absolute(v) if k in ("scalars", "curves") else v for k, v in entry.items()}
        for entry in entries
    ]


def report_parameters(**extra):
    """The notebook's parameters, as YAML-compatible JSON for `papermill -y`."""
    common = {
        "title": PLAN["report"]["title"],
        "experiment_hash": PLAN["experiment_hash"],
    }
    return json.dumps({**common, **extra})


def trained_attention(wildcards):
    """The checkpoint and data of the trained model whose queries and keys the attention
    study uses: `trained_model` on the first system with the first seed, if that run is in
    the plan."""
    model, system = ATTENTION_STUDY["trained_model"], next(iter(SYSTEMS), None)
    if (model, SEEDS[0]) not in runs_of(system):
        return {}
    return {
        "checkpoint": f"results/runs/{system}/{model}/seed{SEEDS[0]}/best.ckpt",
        "data": f"results/data/{system}.zarr",
    }

"""phasebench: simulate → train → evaluate → report, over system × model × seed.

Everything comes from config.yaml (or --configfile); plugins are found by a static scan, so
parsing this file never imports torch.
"""

import json
import os
import re
import sys
from pathlib import Path

from phasebench import config as experiment
from phasebench.errors import PhasebenchError
from phasebench.sources import Sources

ROOT = Path(workflow.basedir)
# Jobs (local or on a cluster) find the plugins folder through this variable: set here, and
# declared so that remote executors pass it on to the jobs.
os.environ["PHASEBENCH_ROOT"] = str(ROOT)


envvars:
    "PHASEBENCH_ROOT",


configfile: ROOT / "config.yaml"


try:
    PLAN = experiment.resolve_workflow_config(
        config, workflow.configfiles, workflow.config_settings.config_args, ROOT
    )
except PhasebenchError as err:
    sys.exit(f"phasebench: {err}")

SYSTEMS, MODELS, SEEDS = PLAN["systems"], PLAN["models"], PLAN["seeds"]
# The library and plugin files each job runs are its inputs: editing one reruns its users.
CODE = Sources(ROOT)
if PLAN["sweeps"]:
    swept = sum(len(variants) for variants in PLAN["sweeps"].values())
    print(
        f"phasebench: {len(MODELS)} models ({swept} variants of {len(PLAN['sweeps'])} swept) × "
        f"{len(SEEDS)} seeds → {len(PLAN['runs']) * len(SEEDS)} training runs",
        file=sys.stderr,
    )


onstart:
    # Before the first job, and only when the jobs run on this machine (not in a dry run, nor
    # from a cluster's submission host, which may lack the GPU its nodes have).
    if workflow.local_exec:
        try:
            experiment.check_local_accelerators(
                PLAN, " + ".join(map(str, workflow.configfiles))
            )
        except PhasebenchError as err:
            sys.exit(f"phasebench: {err}")


wildcard_constraints:
    system="|".join(map(re.escape, SYSTEMS)),
    model="|".join(map(re.escape, MODELS)),
    seed=r"\d+",
    integrator=r"[a-z0-9_]+",


# A job's torch and BLAS use the {threads} Snakemake gives it (train: --threads; simulation,
# evaluation, reports and studies: OMP_NUM_THREADS): left alone, each would take every core, and jobs
# running side by side would spin against each other.
include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/studies.smk"


REPORTS = ["results/reports/index.html"] + [
    f"results/reports/studies/{name}.html"
    for name, study in PLAN["studies"].items()
    if study["enabled"]
]


rule all:
    default_target: True
    input:
        "results/runs/completed.txt",


rule check_runs:
    input:
        reports=REPORTS,
        summaries=[
            f"results/runs/{r['system']}/{r['model']}/seed{s}/train.json"
            for r in PLAN["runs"]
            for s in SEEDS
        ],
    output:
        "results/runs/completed.txt",
    log:
        "results/logs/check_runs.log",
    # Last: a run whose plugin failed is recorded (status: failed) so that the reports render;
    # this rule then fails, naming it, and runs again on every invocation until it is fixed.
    # It reads a few JSON files: never worth a cluster job.
    localrule: True
    shell:
        "phasebench check-runs --out {output:q} {input.summaries:q} 2>&1 | tee {log:q}"

"""The SLURM profile on a real single-node SLURM cluster (scripts/slurm-cluster.sh).

Needs root and Debian's packages (the script installs them). Where they cannot be had the test
is skipped, unless PHASEBENCH_REQUIRE_SLURM=1 (set by .ci/run), which turns that into a failure.
"""

import collections
import datetime
import json
import os
import re
import subprocess

import pytest

from conftest import REPO, copy_workflow, job_counts, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
SCRIPT = REPO / "scripts/slurm-cluster.sh"
# Jobs Snakemake runs itself rather than submitting (rule `all` only collects the targets).
LOCAL_RULES = {"all", "check_runs"}  # run by Snakemake itself, never submitted


@pytest.fixture(scope="module")
def slurm_cluster():
    start = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900
    )
    if start.returncode != 0:
        reason = f"no SLURM cluster could be started here: {start.stderr.strip()[-500:]}"
        if os.environ.get("PHASEBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield
    subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=120)


def slurm_jobs(since: datetime.datetime, workdir) -> list[dict]:
    """The accounting records (sacct, i.e. slurmdbd) of the jobs submitted from `workdir`."""
    fields = [
        "JobID",
        "Comment",
        "State",
        "Account",
        "Partition",
        "WorkDir",
        "ExitCode",
        "AllocCPUS",
    ]
    listing = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-S", since.strftime("%Y-%m-%dT%H:%M:%S"),
         "-o", ",".join(fields)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in listing.splitlines()]
    return [row for row in rows if row["WorkDir"] == str(workdir)]


def test_ci_experiment_runs_as_slurm_jobs_and_writes_its_reports(slurm_cluster, tmp_path):
    root = copy_workflow(tmp_path)
    # The scheduler is under test, not the models (test_conformance.py trains every plugin) or
    # the studies (test_ci_experiment.py renders them; their rules ask for nothing special): one
    # seed of one plugin and its variant that trains with two threads, which its SLURM job must
    # be given. Each job here pays a nested Snakemake and up to ~20 s of status polling.
    (root / "one_seed.yaml").write_text(
        "seeds: [0]\n"
        "models: [resnet, {plugin: resnet, name: resnet_threads2, training: {threads: 2}}]\n"
        "studies: {attention_kernels: {enabled: false}, vision: {enabled: false}}\n"
    )
    since = datetime.datetime.now() - datetime.timedelta(seconds=5)
    result = snakemake(
        root,
        "--workflow-profile", "profiles/slurm",
        "--configfile", "configs/ci.yaml", "one_seed.yaml",
        # A private test cluster can be polled often; a shared one should keep the default 40 s.
        # The executor waits this long after a check that found a job done, and 10 s more after
        # each check that found none: 1 s rather than 5 s finds a few-second job ~8 s sooner.
        "--slurm-init-seconds-before-status-checks", "1",
        timeout=1500,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    planned = job_counts(result.stderr + result.stdout)
    for rule in LOCAL_RULES:
        planned.pop(rule, None)
    assert planned["train"] >= 2 and planned["evaluate"] == planned["train"]

    jobs = slurm_jobs(since, root)
    submitted = collections.Counter(re.match(r"rule_(.+?)(_wildcards_.*)?$", job["Comment"])[1]
                                    for job in jobs)  # fmt: skip
    assert submitted == planned  # every job of the plan, each once, as a SLURM job
    assert {job["State"] for job in jobs} == {"COMPLETED"}
    assert {job["ExitCode"] for job in jobs} == {"0:0"}
    assert {(job["Account"], job["Partition"]) for job in jobs} == {("phasebench", "debug")}
    # CPUs: each job asked for its rule's threads, and the trainer used exactly those.
    cpus = {job["Comment"]: int(job["AllocCPUS"]) for job in jobs}
    two = [c for c in cpus if c.startswith("rule_train_") and "_resnet_threads2_" in c]
    assert len(two) == 1 and cpus[two[0]] == 2
    assert all(n == 1 for comment, n in cpus.items() if comment not in two)
    runs = root / "results/runs/coupled_oscillator"
    assert json.loads((runs / "resnet_threads2/seed0/train.json").read_text())["threads"] == 2
    assert json.loads((runs / "resnet/seed0/train.json").read_text())["threads"] == 1

    reports = root / "results/reports"
    index = (reports / "index.html").read_text()
    assert "phasebench CI" in index and "Traceback" not in index
    assert (reports / "coupled_oscillator.html").stat().st_size > 10_000

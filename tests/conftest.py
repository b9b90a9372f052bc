"""Shared fixtures: a tiny data store, and a throw-away copy of the workflow to run Snakemake in."""

import collections
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from phasebench.config import resolve, simulate_settings

# Two xdist workers share the cores: one torch thread each, or their thread pools spin against
# each other (the jobs a test starts get their threads from Snakemake, like a user's).
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "plugins", "configs", "profiles")

# A tiny coupled-oscillator data set, with every setting the config schema fills in.
TINY_SYSTEM = simulate_settings(
    resolve(
        {
            "systems": [
                {
                    "name": "coupled_oscillator",
                    "n_trajectories": 12,
                    "n_steps": 30,
                    "substeps": 4,
                    "ood_fraction": 0.25,
                    "splits": {"train": 0.5, "val": 0.25, "test": 0.25},
                }
            ]
        }
    )["systems"]["coupled_oscillator"]
)
# A model plugin that tests drop into a copy of the workflow.
DROP_IN = '''
"""A linear one-step map x_{n+1} = x_n + A x_n, dropped in by a test."""
from torch import nn

from phasebench import ModelPlugin


class LinearStep(ModelPlugin):
    name = "linear_step"
    family = "feed-forward"

    def __init__(self, spec, bias: bool = True):
        super().__init__(spec)
        self.map = nn.Linear(spec.dim, spec.dim, bias=bias)

    def forward(self, window):
        return window + self.map(window)
'''


# Headless Chromium on a machine without network or display (see DEVELOPERS.md).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Tiny training settings, completed by the config schema's defaults as the pipeline's are.
TINY_TRAINING = resolve(
    {
        "models": ["resnet"],
        "training": {
            "max_epochs": 2,
            "batch_size": 64,
            "lr": 1e-3,
            "loss": "mse",
            "patience": 2,
            "accelerator": "cpu",
            "threads": 1,
        },
    }
)["models"]["resnet"]["training"]


# `make test` runs two xdist workers with `--dist loadfile --no-loadscope-reorder`: whole files
# are handed out in collection order. The files measured to take longest (their pipelines and the
# SLURM cluster) start first, so that the two workers finish together; the rest keep their order.
LONGEST_FIRST = (
    "test_ci_experiment.py",
    "test_slurm.py",
    "test_particle_pipelines.py",
    "test_crashing_plugins.py",
    "test_vpt_configuration.py",
    "test_particle_split_by_n.py",
    "test_library_edits.py",
    "test_resume.py",
    "test_systems.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: ties keep order


# Systems whose default size makes a generic per-system test take tens of seconds (the
# reference integrator over 64 Lennard-Jones particles): those cases run in the slow lane.
SLOW_SYSTEMS = ("lennard_jones",)


def lane(name, *rest):
    """A parametrize case for a system, in the slow lane where that system is slow."""
    values = (name, *rest)
    marks = pytest.mark.slow if name in SLOW_SYSTEMS else ()
    return pytest.param(*values, marks=marks)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    from phasebench.data import write_store
    from phasebench.simulation import simulate
    from phasebench.system import build_system

    path = tmp_path_factory.mktemp("data") / "coupled_oscillator.zarr"
    ds = simulate(build_system("coupled_oscillator"), TINY_SYSTEM)
    write_store(ds, path)
    return path


# Dimensions 4 (canonical), 2 (canonical) and 3 (not canonical), in this order of file names.
CHECKOUT_SYSTEMS = ("coupled_oscillator.py", "pendulum.py", "rigid_body.py")


# Two breaches of the model contract that broadcast in the loss instead of failing.
FLAT_FORWARD = """
from torch import nn

from phasebench import ModelPlugin


class Flat(ModelPlugin):
    name = "flat"

    def __init__(self, spec):
        super().__init__(spec)
        self.net = nn.Linear(spec.dim, spec.dim)

    def forward(self, window):  # (B, D), not (B, 1, D)
        return window[:, -1] + self.net(window[:, -1])
"""
TWO_STEPS_FORWARD = """
import torch
from torch import nn

from phasebench import ModelPlugin


class TwoSteps(ModelPlugin):
    name = "two_steps"
    output_steps = 1

    def __init__(self, spec):
        super().__init__(spec)
        self.net = nn.Linear(spec.dim, spec.dim)

    def forward(self, window):  # two states where it declares one
        step = window + self.net(window)
        return torch.cat([step, step + self.net(step)], dim=1)
"""


def make_checkout(folder, models: dict[str, str]):
    """A phasebench checkout with three systems and the given model modules (no built-ins)."""
    for kind in ("models", "systems"):
        (folder / "plugins" / kind).mkdir(parents=True)
        shutil.copy(REPO / "plugins" / kind / "__init__.py", folder / "plugins" / kind)
    shutil.copy(REPO / "plugins/__init__.py", folder / "plugins")
    for name in CHECKOUT_SYSTEMS:
        shutil.copy(REPO / "plugins/systems" / name, folder / "plugins/systems")
    for name, text in models.items():
        (folder / "plugins/models" / name).write_text(textwrap.dedent(text))
    (folder / "Snakefile").write_text("")
    return folder


@pytest.fixture(scope="session")
def tiny_particle_store(tmp_path_factory) -> Path:
    """A tiny nbody_charged store: 5 charges in 3D, 8 trajectories of 6 steps (default h)."""
    from phasebench.data import write_store
    from phasebench.simulation import simulate
    from phasebench.system import build_system

    entry = {"name": "nbody_charged", "n_trajectories": 8, "n_steps": 6}
    plan = resolve({"systems": [entry], "models": ["egnn"]})  # one-step model: short data
    settings = simulate_settings(plan["systems"]["nbody_charged"])
    path = tmp_path_factory.mktemp("data") / "nbody_charged.zarr"
    write_store(simulate(build_system("nbody_charged"), settings), path)
    return path


def copy_workflow(folder: Path) -> Path:
    """The Snakefile, rules, notebooks, plugins and configs, copied into `folder`."""
    root = folder / "phasebench"
    root.mkdir()
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    return root


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path)


def tool_env() -> dict:
    """The environment of a user with the project's venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if k != "PHASEBENCH_ROOT"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def job_counts(output: str) -> collections.Counter:
    """Jobs per rule from Snakemake's "Job stats" table (without the total)."""
    table = output.split("Job stats:")[1].split("total")[0]
    return collections.Counter(
        {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    )


def snakemake(
    root: Path, *args: str, timeout: int = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """The venv's snakemake in `root`; `env`: variables to set on top of the user's."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), *args],
        cwd=root,
        env=tool_env() | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def phasebench_cli(*args: str, root: Path | None = None) -> subprocess.CompletedProcess:
    env = tool_env()
    if root is not None:
        env["PHASEBENCH_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "phasebench", *args], env=env, capture_output=True, text=True
    )

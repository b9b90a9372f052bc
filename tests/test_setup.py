"""The quick start's installs (Makefile): the torch build is chosen by an index, the version by
the lock; `make run` installs no test tools. Read from `make -n` (nothing is installed)."""

import subprocess
import tomllib

from packaging.requirements import Requirement

from conftest import REPO


def planned(*args: str) -> str:
    """The commands `make` would run from a fresh checkout (-B: as if nothing were set up)."""
    result = subprocess.run(
        ["make", "-n", "-B", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_pyproject_gives_torch_a_range_and_the_lock_the_exact_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    torch = next(Requirement(r) for r in project["dependencies"] if r.startswith("torch"))
    assert not any(spec.operator == "==" for spec in torch.specifier)
    assert "2.13.0" in torch.specifier
    assert "torch==2.13.0" in (REPO / "requirements.lock").read_text().splitlines()


def test_make_run_installs_the_locked_cpu_torch_and_no_test_tools():
    run = planned("run")
    assert '--no-deps --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"' in run
    assert "-c requirements.lock -e ." in run and "[dev]" not in run
    assert '-c requirements.lock -e ".[dev]"' in planned("test")


def test_a_cuda_build_is_chosen_by_its_index():
    cuda = planned("run", "TORCH_INDEX=https://download.pytorch.org/whl/cu128")
    assert '--index-url https://download.pytorch.org/whl/cu128 "torch==2.13.0"' in cuda
    assert '--no-deps  "torch==2.13.0"' in planned("run", "TORCH_INDEX=")  # pip's own index

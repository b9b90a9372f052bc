"""Where a result came from: package version, git commit, time."""

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import phasebench


def git_commit(root: Path) -> str:
    """The checkout's commit, with `+dirty` when it has uncommitted changes; `unknown` outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(root: Path, config_hash: str) -> dict:
    return {
        "phasebench_version": phasebench.__version__,
        "git_commit": git_commit(root),
        "config_hash": config_hash,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }

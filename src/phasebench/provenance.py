"""Where a result came from: package version, git commit, time."""

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import phasebench


def git_commit(root: Path) -> str:
    """The commit of the checkout (`+dirty` with uncommitted changes; `unknown` outside git)."""
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


def config_hash(settings: dict) -> str:
    """A short, stable hash of JSON-serialisable settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def provenance(root: Path, config_hash: str) -> dict:
    return {
        "phasebench_version": phasebench.__version__,
        "git_commit": git_commit(root),
        "config_hash": config_hash,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }

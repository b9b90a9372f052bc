"""Where a result came from: package version, git commit, time."""

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import phasebench

# Folders whose new, uncommitted files change what a run computes (a plugin dropped into
# plugins/models/ is a model that exists in no commit).
CODE_FOLDERS = ("plugins", "src", "workflow")


def git_commit(root: Path) -> str:
    """The commit of the checkout; `+dirty` with uncommitted changes to tracked files or new
    files in the code folders; `unknown` outside git."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") or git(
            "status", "--porcelain", "--untracked-files=all", "--", *CODE_FOLDERS
        )
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

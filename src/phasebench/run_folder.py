"""The files of one training run's folder, and who may write them.

The declared outputs (`best.ckpt`, `metrics.csv`, `hparams.yaml`, `train.json`) are written only
when training finishes. Until then everything lives in `progress/`, a name the workflow does not
declare: Snakemake deletes the declared outputs of a killed job before running it again, and the
best weights and the epochs before the kill must survive that. One process at a time may train
in a folder (a lock held for the life of the process, naming its PID).
"""

from __future__ import annotations

import csv
import ctypes
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from phasebench.errors import PhasebenchError

PROGRESS = "progress"  # the unfinished run: best.ckpt, resume.ckpt, log/metrics.csv, lock
METRIC_COLUMNS = ("epoch", "step", "train_loss", "val_loss", "lr", "wall_s")


class RunFolder:
    def __init__(self, out: Path):
        self.out = Path(out)
        self.progress = self.out / PROGRESS
        self.best = self.progress / "best.ckpt"
        self.resume = self.progress / "resume.ckpt"
        self.live_log = self.progress / "log"  # Lightning's metrics.csv, to watch a run
        self.budgets = self.progress / "budgets"  # best weights so far at each budget epoch
        self._lock = None

    def claim(self, fingerprint: dict) -> None:
        """Take the folder's lock for the life of this process, or refuse with the holder's PID
        (the operating system drops the lock when its holder dies, however it dies). Progress
        left by a run with another `fingerprint` (settings, plugin source) is discarded: its
        weights belong to a different experiment."""
        self.progress.mkdir(parents=True, exist_ok=True)
        lock = (self.progress / "lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise PhasebenchError(
                f"{self.out}: is being trained by PID {holder}; stop that process (or wait for "
                "it) before training this run again"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock
        # The live log restarts with each process (the epochs so far live in the checkpoints).
        shutil.rmtree(self.live_log, ignore_errors=True)
        recorded = self.progress / "fingerprint.json"
        current = json.dumps(fingerprint, sort_keys=True, indent=1)
        if self.resume.exists() and recorded.exists() and recorded.read_text() != current:
            print(
                f"{self.out}: the settings or the plugin changed since the unfinished run in "
                f"{PROGRESS}/; starting afresh",
                flush=True,
            )
            self.best.unlink(missing_ok=True)
            self.resume.unlink()
        recorded.write_text(current)

    def publish_failure(self) -> None:
        """The declared outputs of a run whose plugin failed, so that the pipeline goes on and
        the reports can list it: an empty `best.ckpt` and `hparams.yaml`, a header-only
        `metrics.csv`, no budgets. `train.json` (written last, by the caller) says why."""
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "best.ckpt").write_bytes(b"")
        (self.out / "hparams.yaml").write_text("{}\n")
        write_metrics(self.out / "metrics.csv", [])
        publish_budgets(self.budgets, self.out / "budgets", [])
        if self._lock is not None:
            self._lock.close()
        shutil.rmtree(self.progress, ignore_errors=True)

    def record_failure(self, plugin: str, hparams: dict, seed: int, err) -> dict:
        """A run whose plugin cannot be imported, built or trained: its outputs say `status:
        failed` and why, like a diverged run's say `diverged`, so that the other runs and the
        reports complete; the workflow's last rule (check_runs) still fails, naming it."""
        from phasebench import registry

        print(f"phasebench: {err}", file=sys.stderr, flush=True)
        scanned = registry.discover("models")[0].get(plugin)
        summary = {
            "plugin": plugin,
            "family": scanned.attrs.get("family", "other") if scanned else "other",
            "hparams": hparams,
            "seed": seed,
            "status": "failed",
            "failure": str(err),
            "epochs": 0,
            "steps": 0,
            "wall_time_s": 0.0,
            "best_val_loss": None,
            "final_val_loss": None,
        }
        self.publish_failure()
        (self.out / "train.json").write_text(json.dumps(summary, indent=2))
        return summary

    def publish(self, history: list[dict]) -> None:
        """The finished run's declared outputs from its progress; then the progress goes, so a
        later run of this folder starts afresh."""
        shutil.copyfile(self.best, self.out / "best.ckpt")
        shutil.copyfile(self.live_log / "hparams.yaml", self.out / "hparams.yaml")
        write_metrics(self.out / "metrics.csv", history)
        publish_budgets(self.budgets, self.out / "budgets", history)
        if self._lock is not None:
            self._lock.close()
        shutil.rmtree(self.progress)


def failed_runs(summaries) -> list[tuple[Path, str]]:
    """(train.json, reason) of every run among `summaries` whose training failed."""
    failed = []
    for path in map(Path, summaries):
        summary = json.loads(path.read_text())
        if summary.get("status") == "failed":
            failed.append((path, summary.get("failure", "no reason recorded")))
    return failed


def failure_message(failed: list[tuple[Path, str]], total: int) -> str:
    """One sentence for the end of a workflow run: which runs failed, why, how to retry."""
    runs = "; ".join(f"{path.parent} ({reason})" for path, reason in failed)
    retry = " ".join(str(path) for path, _ in failed)
    return (
        f"{len(failed)} of {total} training run(s) failed and are listed as failed in the "
        f"reports: {runs}; after fixing, retry with: snakemake --forcerun {retry}"
    )


def source_digest(cls: type) -> str:
    """SHA-256 of the file that defines `cls`: an edited plugin is a different model."""
    return hashlib.sha256(Path(inspect.getsourcefile(cls)).read_bytes()).hexdigest()


def publish_budgets(kept: Path, out: Path, history: list[dict]) -> None:
    """`out/epoch-E.ckpt` for every budget kept, and `out/budgets.json` saying how much
    training each had: epochs, optimiser steps and wall seconds."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    by_epoch = {row["epoch"] + 1: row for row in history}
    budgets = []
    for path in sorted(kept.glob("epoch-*.ckpt"), key=lambda p: int(p.stem.split("-")[1])):
        epoch = int(path.stem.split("-")[1])
        shutil.copyfile(path, out / path.name)
        row = by_epoch.get(epoch, {})
        budgets.append(
            {
                "epoch": epoch,
                "step": row.get("step"),
                "wall_s": row.get("wall_s"),
                "file": path.name,
            }
        )
    (out / "budgets.json").write_text(json.dumps(budgets, indent=2))


def write_metrics(path: Path, history: list[dict]) -> None:
    """One row per epoch: epoch (0-based), optimiser steps so far, mean losses, learning rate."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent (a job's shell) dies, so a killed
    job never leaves its trainer writing on; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)

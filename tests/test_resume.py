"""A training process killed mid-way resumes from its last epoch when run again, keeps its best
weights and its earlier epochs, and a run folder has one writer at a time."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import lightning.pytorch as pl
import pytest
import torch

from phasebench.data import open_store
from phasebench.errors import PhasebenchError
from phasebench.run_folder import RunFolder
from phasebench.spec import spec_from_store
from phasebench.training import PluginModule, ResumeCheckpoint, TrajectoryWindows, train

from conftest import TINY_TRAINING

HPARAMS = {"width": 16, "depth": 1}
DECLARED = ("best.ckpt", "metrics.csv", "hparams.yaml", "train.json")


def saved_epoch(path) -> int:
    """The epoch stored in a checkpoint, or -1 while it is missing or being written."""
    try:
        return torch.load(path, weights_only=False)["epoch"]
    except Exception:
        return -1


def start_training(store, out, training, shell=False):
    settings = {"plugin": "resnet", "hparams": HPARAMS, "training": training, "seed": 0}
    settings["budgets"] = []
    cmd = [sys.executable, "-m", "phasebench.cli", "train", "--settings", json.dumps(settings)]
    cmd += ["--data", str(store), "--out", str(out)]
    if shell:  # as the train rule runs it: under a shell that may be killed on its own
        line = " ".join(f"'{part}'" for part in cmd)
        return subprocess.Popen(["bash", "-c", f"{line} --die-with-parent; true"])
    return subprocess.Popen(cmd)


def kill_after_epoch(proc, resume, epoch, sig=signal.SIGKILL) -> int:
    try:
        deadline = time.monotonic() + 300
        while saved_epoch(resume) < epoch:
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, f"no resume checkpoint of epoch {epoch} in 300 s"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        proc.wait(timeout=60)
    return saved_epoch(resume)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_training_resumes_from_its_last_checkpoint(tiny_store, tmp_path, sig):
    training = {**TINY_TRAINING, "max_epochs": 400, "patience": 400, "batch_size": 4}
    out = tmp_path / "run"
    resume = out / "progress" / "resume.ckpt"
    proc = start_training(tiny_store, out, training)
    killed_at = kill_after_epoch(proc, resume, 2, sig)
    assert proc.returncode != 0
    assert not any((out / name).exists() for name in DECLARED)  # outputs only when finished
    assert 2 <= killed_at < training["max_epochs"]

    training["max_epochs"] = killed_at + 5  # finish quickly after resuming
    summary = train(tiny_store, out, "resnet", HPARAMS, training, seed=0)
    assert summary["resumed_from_epoch"] >= killed_at
    assert summary["epochs"] == training["max_epochs"]
    assert all((out / name).exists() for name in DECLARED)
    assert not (out / "progress").exists()  # a finished run is never resumed again


@pytest.mark.slow
def test_a_run_killed_after_its_best_epoch_keeps_its_best_weights(tiny_store, tmp_path):
    # The learning rate falls by 1e-30 over 20 steps (about 3 epochs) and goes on falling, so the
    # weights freeze and the validation loss plateaus: no epoch after the kill beats the best.
    training = {
        **TINY_TRAINING,
        "max_epochs": 400,
        "patience": 400,
        "batch_size": 4,
        "lr": 1e-2,
        "lr_end": 1e-32,
        "lr_decay_steps": 20,
    }
    out = tmp_path / "run"
    resume = out / "progress" / "resume.ckpt"
    killed_at = kill_after_epoch(start_training(tiny_store, out, training), resume, 8)
    # What Snakemake does before running an incomplete job again: delete its declared outputs.
    for name in DECLARED:
        (out / name).unlink(missing_ok=True)

    training["max_epochs"] = killed_at + 4
    summary = train(tiny_store, out, "resnet", HPARAMS, training, seed=0)
    assert summary["status"] == "ok" and summary["final_val_loss"] is not None
    assert summary["best_epoch"] < killed_at
    best = torch.load(out / "best.ckpt", weights_only=False)
    assert best["epoch"] == summary["best_epoch"]
    # The best checkpoint is rewritten on most epochs of a long run: weights only.
    assert "optimizer_states" not in best and "history" not in best
    pl.seed_everything(0, verbose=False)  # as train() does before it builds the model
    initial = PluginModule("resnet", HPARAMS, best["hyper_parameters"]["spec"], training)
    trained = best["state_dict"]
    assert any(not torch.equal(v, trained[k]) for k, v in initial.state_dict().items())
    with (out / "metrics.csv").open() as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == list(range(training["max_epochs"]))  # the epochs before the kill kept


@pytest.mark.parametrize("pause, last_written", [(0, 3), (1e9, 0)])
def test_the_resume_checkpoint_waits_pause_times_its_last_write(
    tiny_store, tmp_path, monkeypatch, pause, last_written
):
    monkeypatch.setattr(ResumeCheckpoint, "PAUSE", pause)
    folder = RunFolder(tmp_path / "run")
    folder.progress.mkdir(parents=True)
    spec = spec_from_store(open_store(tiny_store)).to_dict()
    module = PluginModule("resnet", HPARAMS, spec, TINY_TRAINING)
    data = TrajectoryWindows(tiny_store, 1, 1, batch_size=16)
    trainer = pl.Trainer(
        max_epochs=4,
        callbacks=[ResumeCheckpoint(folder)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=data)
    saved = torch.load(folder.resume, weights_only=False)
    # Pause 0: after every epoch. A pause far longer than the run: only after the first.
    assert saved["epoch"] == last_written
    assert [row["epoch"] for row in saved["history"]] == list(range(last_written + 1))
    assert "optimizer_states" in saved  # all a killed run needs to go on


@pytest.mark.slow
def test_a_run_folder_has_one_writer(tiny_store, tmp_path):
    training = {**TINY_TRAINING, "max_epochs": 400, "patience": 400, "batch_size": 4}
    out = tmp_path / "run"
    proc = start_training(tiny_store, out, training)
    try:
        lock = out / "progress" / "lock"
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        with pytest.raises(PhasebenchError, match=f"being trained by PID {proc.pid}"):
            train(tiny_store, out, "resnet", HPARAMS, training, seed=0)
    finally:
        proc.kill()
        proc.wait(timeout=60)


@pytest.mark.slow
def test_a_trainer_dies_with_the_job_shell_that_started_it(tiny_store, tmp_path):
    training = {**TINY_TRAINING, "max_epochs": 400, "patience": 400, "batch_size": 4}
    out = tmp_path / "run"
    shell = start_training(tiny_store, out, training, shell=True)
    lock = out / "progress" / "lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().strip()):
        assert time.monotonic() < deadline and shell.poll() is None
        time.sleep(0.2)
    trainer = int(lock.read_text())
    assert trainer != shell.pid
    shell.kill()
    shell.wait(timeout=60)
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{trainer}") and "Z" not in _state(trainer):
        assert time.monotonic() < deadline, "the trainer outlived its shell by 60 s"
        time.sleep(0.2)


@pytest.mark.slow
def test_an_edited_plugin_or_setting_does_not_resume_old_weights(tiny_store, tmp_path):
    training = {**TINY_TRAINING, "max_epochs": 400, "patience": 400, "batch_size": 4}
    out = tmp_path / "run"
    killed_at = kill_after_epoch(
        start_training(tiny_store, out, training), out / "progress" / "resume.ckpt", 1
    )
    assert killed_at >= 1
    changed = {**training, "max_epochs": 2, "lr": 2e-3}
    summary = train(tiny_store, out, "resnet", HPARAMS, changed, seed=0)
    assert summary["resumed_from_epoch"] is None and summary["epochs"] == 2


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0]
    except FileNotFoundError:
        return "Z"

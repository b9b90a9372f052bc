"""A training process killed mid-way resumes from its last epoch when run again."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from phasebench.training import train

from conftest import TINY_TRAINING

HPARAMS = {"width": 16, "depth": 1}


def saved_epoch(path) -> int:
    """The epoch stored in a checkpoint, or -1 while it is missing or being written."""
    try:
        return torch.load(path, weights_only=False)["epoch"]
    except Exception:
        return -1


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_training_resumes_from_its_last_checkpoint(tiny_store, tmp_path, sig):
    training = {**TINY_TRAINING, "max_epochs": 400, "patience": 400, "batch_size": 4}
    settings = {"plugin": "resnet", "hparams": HPARAMS, "training": training, "seed": 0}
    out = tmp_path / "run"
    resume = out / "resume.ckpt"
    cmd = [sys.executable, "-m", "phasebench.cli", "train", "--settings", json.dumps(settings)]
    proc = subprocess.Popen([*cmd, "--data", str(tiny_store), "--out", str(out)])
    try:
        deadline = time.monotonic() + 300
        while saved_epoch(resume) < 2:
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no resume checkpoint after 300 s"
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not (out / "train.json").exists()
    killed_at = saved_epoch(resume)
    assert 2 <= killed_at < training["max_epochs"]

    training["max_epochs"] = killed_at + 5  # finish quickly after resuming
    summary = train(tiny_store, out, "resnet", HPARAMS, training, seed=0)
    assert summary["resumed_from_epoch"] >= killed_at
    assert summary["epochs"] == training["max_epochs"]
    assert (out / "best.ckpt").exists()
    assert not resume.exists()  # a finished run is never resumed again

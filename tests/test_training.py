"""The Lightning wrapper and data module, and the train → checkpoint → evaluate chain."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from phasebench.errors import PluginError
from phasebench.evaluation import _model_predictor, evaluate, load_model
from phasebench.model import ModelPlugin
from phasebench.spec import SystemSpec
from phasebench.training import PluginModule, TrajectoryWindows, train, windows

from conftest import (
    DROP_IN,
    FLAT_FORWARD,
    TINY_TRAINING,
    TWO_STEPS_FORWARD,
    make_checkout,
    phasebench_cli,
    tool_env,
)


def test_windows_are_consecutive_states():
    states = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)
    data = windows(states, 2, 1)
    assert len(data) == 2 * 4
    inputs, targets = data[5]  # trajectory 1, start 1
    torch.testing.assert_close(inputs, states[1, 1:3])
    torch.testing.assert_close(targets, states[1, 3:4])


def test_data_module_loads_train_and_val_once_in_memory(tiny_store):
    dm = TrajectoryWindows(tiny_store, input_steps=4, output_steps=1, batch_size=16)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 4, 4) and y.shape == (16, 1, 4)
    assert isinstance(dm.train_set.tensors[0], torch.Tensor)  # no per-sample Zarr reads
    assert len(dm.val_set) == 3 * (31 - 5 + 1)


@pytest.fixture(scope="module")
def trained_run(tiny_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = train(tiny_store, out, "resnet", {"width": 16, "depth": 1}, TINY_TRAINING, seed=3)
    return out, summary


def test_train_writes_the_fixed_outputs(trained_run):
    out, summary = trained_run
    for name in ("best.ckpt", "metrics.csv", "hparams.yaml", "train.json"):
        assert (out / name).is_file(), name
    recorded = json.loads((out / "train.json").read_text())
    assert recorded == summary
    assert recorded["epochs"] == 2 and recorded["device"] == "cpu" and recorded["seed"] == 3
    assert recorded["parameters"] == (4 * 16 + 16) + (16 * 4 + 4)
    assert np.isfinite(recorded["best_val_loss"])
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "train_loss", "val_loss"} <= set(header)


def test_same_seed_gives_the_same_numbers_on_cpu(trained_run, tiny_store, tmp_path):
    out, summary = trained_run
    again = train(tiny_store, tmp_path, "resnet", {"width": 16, "depth": 1}, TINY_TRAINING, seed=3)
    assert again["best_val_loss"] == summary["best_val_loss"]
    first, second = load_model(out / "best.ckpt"), load_model(tmp_path / "best.ckpt")
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # ... and so the same numbers in the report, timings and memory aside.
    settings = {"horizons": [2.0], "valid_threshold": 0.1}
    _, one = evaluate(out / "best.ckpt", tiny_store, settings, summary, "resnet")
    _, two = evaluate(tmp_path / "best.ckpt", tiny_store, settings, again, "resnet")
    measured = {"train_time_s", "inference_ms_per_step", "peak_memory_mb"}
    assert {k: v for k, v in one.items() if k not in measured} == {
        k: v for k, v in two.items() if k not in measured
    }


def test_evaluation_rolls_out_the_whole_test_trajectories(trained_run, tiny_store):
    out, summary = trained_run
    settings = {"horizons": [2.0, 1000.0], "valid_threshold": 0.1}
    result, scalars = evaluate(out / "best.ckpt", tiny_store, settings, summary, "resnet")
    assert result["rel_error"].dims == ("trajectory", "time")
    assert result.sizes["time"] == 31
    splits = list(result["split"].values)
    assert splits.count("test") == 3 and splits.count("val") == 3  # val: to choose variants
    assert splits.count("test_ood") == 3
    assert "val_final_error" in scalars and "ood_final_error" in scalars
    assert float(result["rel_error"].isel(time=0).max()) == 0.0  # the given first state
    assert scalars["rollout_steps"] == 30
    assert "error_t2" in scalars and "error_t1000" not in scalars  # beyond the data
    assert scalars["parameters"] == summary["parameters"]
    assert 0 < scalars["one_step_error"] < scalars["final_error"]  # errors compound in rollouts
    assert float(result["energy_error"].isel(time=0).max()) == 0.0


def test_a_checkpoint_alone_rebuilds_the_trained_plugin(tiny_store, tmp_path):
    # The checkpoint carries plugin name, hyperparameters and spec: nothing else is needed to
    # get back the same network with the same weights, hence the same predictions.
    train(tiny_store, tmp_path, "lstm", {"hidden": 8, "layers": 1}, TINY_TRAINING, seed=1)
    module = PluginModule.load_from_checkpoint(tmp_path / "best.ckpt", map_location="cpu")
    rebuilt = load_model(tmp_path / "best.ckpt")
    assert type(rebuilt).__name__ == type(module.model).__name__
    assert rebuilt.lstm.hidden_size == 8 and rebuilt.lstm.num_layers == 1
    x = torch.randn(5, rebuilt.input_steps, 4)
    module.model.eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(x), module.model(x))
    assert any(v.abs().sum() > 0 for v in rebuilt.state_dict().values())


def test_training_writes_one_line_per_epoch_to_its_log(tiny_store, tmp_path, capsys, caplog):
    # Under pytest stderr is no terminal, as under Snakemake or a cluster scheduler.
    caplog.set_level("INFO")
    train(tiny_store, tmp_path, "resnet", {"width": 8, "depth": 1}, TINY_TRAINING, seed=0)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("train_loss" in line and "val_loss" in line and " lr " in line for line in lines)
    assert "GPU available" in caplog.text and "litlogger" not in caplog.text


@pytest.mark.slow  # a training process
def test_the_train_command_uses_the_threads_it_is_given(tiny_store, tmp_path):
    # The train rule passes Snakemake's {threads}, which may differ from training.threads.
    settings = {"plugin": "resnet", "hparams": {"width": 8, "depth": 1}, "seed": 0}
    settings |= {"training": {**TINY_TRAINING, "threads": 1}, "budgets": []}
    args = ["--settings", json.dumps(settings), "--data", str(tiny_store), "--threads", "2"]
    result = phasebench_cli("train", *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run/train.json").read_text())["threads"] == 2
    # Where srun is installed (the SLURM test installs it) Lightning would suggest it in every log.
    assert "srun" not in result.stderr


@pytest.mark.slow  # a train process
def test_a_plugin_that_cannot_be_imported_is_recorded_before_lightning_loads(tiny_store, tmp_path):
    # Lightning's imports cost a job several seconds: a plugin that fails at import fails first.
    broken = DROP_IN.replace('"linear_step"', '"broken"') + "\nimport not_installed_anywhere\n"
    root = make_checkout(tmp_path / "checkout", {"broken.py": broken})
    settings = {"plugin": "broken", "hparams": {}, "seed": 0, "budgets": []}
    settings |= {"training": TINY_TRAINING}
    argv = ["train", "--settings", json.dumps(settings), "--data", str(tiny_store)]
    argv += ["--out", str(tmp_path / "run")]
    probe = (
        "import json, sys\nfrom phasebench.cli import main\n"
        f"code = main({argv!r})\n"
        "print(json.dumps([code, sorted({m.split('.')[0] for m in sys.modules})]))"
    )
    env = tool_env() | {"PHASEBENCH_ROOT": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    code, modules = json.loads(result.stdout.splitlines()[-1])
    assert code == 0 and "lightning" not in modules and "torchmetrics" not in modules
    summary = json.loads((tmp_path / "run/train.json").read_text())
    assert (
        summary["status"] == "failed" and "import failed: ModuleNotFoundError" in summary["failure"]
    )
    assert (tmp_path / "run/best.ckpt").read_bytes() == b""  # the declared outputs exist
    assert "No module named 'not_installed_anywhere'" in result.stderr


@pytest.mark.slow  # a training process per case
@pytest.mark.parametrize(
    ("plugin", "returned"),
    [("flat", r"\(\d+, 4\)"), ("two_steps", r"\(\d+, 2, 4\)")],
    ids=["flat", "two_steps"],
)
def test_the_first_batch_rejects_a_forward_of_the_wrong_shape(
    tiny_store, tmp_path, plugin, returned
):
    # Before: a (B, D) output broadcast against the (B, 1, D) target, and two steps where one
    # is declared against a one-step target, and both trained to a ranked result.
    root = make_checkout(
        tmp_path / "checkout", {"flat.py": FLAT_FORWARD, "two_steps.py": TWO_STEPS_FORWARD}
    )
    settings = {
        "plugin": plugin,
        "hparams": {},
        "training": TINY_TRAINING,
        "seed": 0,
        "budgets": [],
    }
    result = phasebench_cli(
        "train", "--settings", json.dumps(settings), "--data", str(tiny_store),
        "--out", str(tmp_path / "run"), root=root,
    )  # fmt: skip
    # The run is recorded as failed (the other runs and the reports go on; check_runs names it).
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("phasebench:")]
    assert len(errors) == 1, result.stderr
    sentence = (
        rf"model plugin '{plugin}' \({root}/plugins/models/{plugin}.py\): forward of "
        rf"a window \((\d+), 1, 4\) returned {returned}, but it must return \(\1, 1, 4\) "
        r"\(batch, output_steps = 1, dim\)"
    )
    assert re.fullmatch("phasebench: " + sentence, errors[0]), errors[0]
    summary = json.loads((tmp_path / "run" / "train.json").read_text())
    assert summary["status"] == "failed" and re.fullmatch(sentence, summary["failure"])


class FlatRollout(ModelPlugin):
    """Its own rollout returns the predicted states without the given window."""

    name = "flat_rollout"

    def __init__(self, spec):
        super().__init__(spec)
        self.gain = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, window):
        return self.gain * window

    def rollout(self, window, n_steps):
        return super().rollout(window, n_steps)[:, self.input_steps :]


SPEC = SystemSpec("test", 2, ("q", "p"), True, 0.1)


def test_evaluation_rejects_a_rollout_of_the_wrong_shape():
    truth = np.random.default_rng(0).standard_normal((3, 6, 2))
    with pytest.raises(
        PluginError,
        match=r"'flat_rollout' .*: rollout\(window \(3, 1, 2\), 5\) "
        r"returned \(3, 5, 2\), but it must return \(3, 6, 2\)",
    ):
        _model_predictor(FlatRollout(SPEC))(truth, {})


def test_the_library_rollout_rejects_a_forward_of_the_wrong_shape():
    class Flat(FlatRollout):
        name = "flat"
        rollout = ModelPlugin.rollout

        def forward(self, window):
            return self.gain * window[:, -1]

    with pytest.raises(PluginError, match=r"returned \(3, 2\), but it must return \(3, 1, 2\)"):
        Flat(SPEC).rollout(torch.zeros(3, 1, 2), 4)

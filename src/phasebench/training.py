"""Lightning training of any model plugin on any system's data.

One `LightningModule` (`PluginModule`) wraps every plugin and one `LightningDataModule`
(`TrajectoryWindows`) serves every system. Outputs have fixed names in the run folder:
`best.ckpt`, `metrics.csv`, `hparams.yaml` and `train.json`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, Sampler, TensorDataset

from phasebench.convergence import judge
from phasebench.data import load_split, open_store, particle_features
from phasebench.errors import PhasebenchError, PluginError
from phasebench.fastpath import compile_decision, optimiser
from phasebench.losses import LOSSES
from phasebench.model import build_model, check_output, precision_dtype, sliding_windows
from phasebench.run_folder import RunFolder, source_digest
from phasebench.spec import SystemSpec, spec_from_store  # noqa: F401 (its former home)

# The data lives in memory, so worker processes would only add start-up cost.
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
# progress/ always holds the run's lock, and a resumed run's checkpoints, by design.
warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
# Where srun is installed Lightning suggests it on every run; phasebench's jobs are one process
# each (the SLURM executor places them), so the hint is noise in every job log.
warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system.*")
# Lightning advertises a cloud logger on every run; job logs should hold the run's own lines.
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: not str(record.msg).startswith("💡 Tip")
)


class Windows(TensorDataset):
    """Windows and targets; a tensor of indices gathers a whole batch with `index_select` over
    flattened rows (four times faster here than advanced indexing)."""

    def __getitem__(self, index):
        if not isinstance(index, torch.Tensor):
            return super().__getitem__(index)
        return tuple(
            t.flatten(1).index_select(0, index).view(len(index), *t.shape[1:]) for t in self.tensors
        )


def windows(states: torch.Tensor, input_steps: int, output_steps: int, features=None) -> Windows:
    """Every window of `input_steps` states and the `output_steps` that follow, from `(n, T, D)`;
    with particle `features (n, particles, F)`, each window's trajectory's features third."""
    length = input_steps + output_steps
    if states.shape[1] < length:
        raise PhasebenchError(
            f"trajectories of {states.shape[1]} steps are shorter than the model's window of "
            f"{length}; raise n_steps of the system"
        )
    cut = sliding_windows(states, length)
    tensors = [cut[:, :input_steps].contiguous(), cut[:, input_steps:].contiguous()]
    if features is not None:  # sliding_windows keeps each trajectory's windows together
        per_trajectory = states.shape[1] - length + 1
        tensors.append(features.to(states.dtype).repeat_interleave(per_trajectory, dim=0))
    return Windows(*tensors)


class TrajectoryWindows(pl.LightningDataModule):
    """Train and validation windows of a data store, loaded into memory once in `setup()`."""

    def __init__(
        self,
        store: Path,
        input_steps: int,
        output_steps: int,
        batch_size: int,
        pin_memory=False,
        features: bool = False,
        dtype: torch.dtype | None = None,
    ):
        """`features`: serve each window's particle features too (a particle model's);
        `dtype`: the model's weights' dtype, which the data is cast to (a float64 store trains
        a float32 model)."""
        super().__init__()
        self.store, self.batch_size, self.pin_memory = Path(store), batch_size, pin_memory
        self.features, self.dtype = features, dtype
        self.input_steps, self.output_steps = input_steps, output_steps

    def setup(self, stage: str | None = None):
        ds = open_store(self.store)
        # Training sees t <= train_horizon only (to float rounding, as the config counts:
        # 0.2 + 8·0.1 is 1.0000000000000002); test rollouts go on to the end.
        horizon = ds.attrs.get("train_horizon") or float("inf")
        steps = int((ds["time"].values <= horizon + 1e-9).sum())
        # The windows live on the training device once, so a batch is one index on the device.
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        split = {
            s: torch.from_numpy(load_split(ds, s, str(self.store))[:, :steps]).to(
                device, self.dtype
            )
            for s in ("train", "val")
        }
        features = {s: particle_features(ds, s) for s in ("train", "val")}
        features = {
            s: None if f is None or not self.features else torch.from_numpy(f).to(device)
            for s, f in features.items()
        }
        self.pin_memory = self.pin_memory and device.type == "cpu"
        self.train_set = windows(
            split["train"], self.input_steps, self.output_steps, features["train"]
        )
        self.val_set = windows(split["val"], self.input_steps, self.output_steps, features["val"])

    def train_dataloader(self):
        return window_loader(self.train_set, self.batch_size, True, self.pin_memory)

    def val_dataloader(self):
        return window_loader(self.val_set, self.batch_size, False, self.pin_memory)


class IndexBatches(Sampler):
    """Batches of window indices as tensors on the data's device, from one permutation per
    epoch (the global torch generator, so seeded runs repeat)."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, device: torch.device):
        self.n, self.batch_size, self.shuffle, self.device = n, batch_size, shuffle, device

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n).to(self.device)
        else:
            order = torch.arange(self.n, device=self.device)
        return iter(order.split(self.batch_size))

    def __len__(self):
        return math.ceil(self.n / self.batch_size)


def window_loader(windows: TensorDataset, batch_size: int, shuffle: bool, pin_memory=False):
    """Batches cut from the in-memory tensors by one index tensor each, not stacked sample by
    sample (at batch 16384 that is 6 ms a batch instead of 134 ms)."""
    device = windows.tensors[0].device
    return DataLoader(
        Windows(*windows.tensors),
        batch_size=None,  # the sampler yields whole batches of indices
        sampler=IndexBatches(len(windows), batch_size, shuffle, device),
        pin_memory=pin_memory,
    )


class PluginModule(pl.LightningModule):
    """Trains a model plugin to map each window to the states that follow it.

    `fast=False` is the plain reference path (see `phasebench.fastpath`): Adam one tensor at a
    time and no compilation; the layers' own switch is `phasebench.fastpath.reference_path()`.
    """

    def __init__(self, plugin: str, hparams: dict, spec: dict, training: dict, fast: bool = True):
        super().__init__()
        self.save_hyperparameters()
        dtype = precision_dtype(training["precision"])
        self.model = build_model(plugin, SystemSpec.from_dict(spec), hparams, dtype)
        self.loss_fn = LOSSES[training["loss"]]
        self.step_fn = self.loss
        self.sums = {}  # stage -> [Σ loss · batch size, Σ batch size], kept on the device
        self.epoch_lines = False  # one line per epoch on stdout, for logs (no progress bar)
        # One row per finished epoch, kept in every checkpoint so that a resumed run's
        # metrics.csv still holds the epochs before the kill.
        self.history: list[dict] = []
        self.wall_before = 0.0  # training seconds of the processes before a resume
        self.fit_started = time.perf_counter()

    def on_save_checkpoint(self, checkpoint):
        # Only the checkpoint a run resumes from (the full one, with the optimiser's state)
        # carries the rows: the best weights are rewritten on most epochs of a long run.
        if "optimizer_states" in checkpoint:
            checkpoint["history"] = self.history

    def on_load_checkpoint(self, checkpoint):
        self.history = checkpoint.get("history", [])
        self.wall_before = self.history[-1].get("wall_s", 0.0) if self.history else 0.0

    def loss(self, window, target, features=None):
        # Every batch (a shape comparison, also when compiled): the first one stops a plugin
        # whose output would broadcast against the target.
        out = self.model.step(window, features)
        return self.loss_fn(check_output(self.model, window, out), target)

    def forward(self, window, features=None):
        return self.model.step(window, features)

    def on_fit_start(self):
        self.fit_started = time.perf_counter()
        setting = self.hparams.training["compile"] if self.hparams.fast else False
        planned = self.trainer.estimated_stepping_batches
        if compile_decision(setting, self.trainer.strategy.root_device, planned):
            # A compiled function of the same module (not a submodule, so that the weights and
            # the checkpoints stay the model's).
            self.step_fn = torch.compile(self.loss, mode=self.hparams.training["compile_mode"])

    def _step(self, batch, stage: str):
        window, target, *features = batch  # particle features for a particle model
        loss = self.step_fn(window, target, *features)
        if not self.hparams.fast and stage == "train":  # the reference: Lightning every step
            self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, batch_size=len(window))
            return loss
        # Summed on the device and logged once per epoch: per-step logging costs Lightning
        # milliseconds a step, and reading the value would wait for the GPU.
        total, count = self.sums.setdefault(stage, [0.0, 0])
        self.sums[stage] = [total + loss.detach() * len(window), count + len(window)]
        return loss

    def _log_epoch(self, stage: str):
        if stage in self.sums:
            total, count = self.sums.pop(stage)
            self.log(f"{stage}_loss", total / count, on_step=False, on_epoch=True)
            if stage == "val":  # early stopping's measure: a relative change is a difference
                self.log("val_log_loss", torch.log(total / count), on_step=False, on_epoch=True)

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def on_train_epoch_start(self):
        self.epoch_start = time.perf_counter()

    def on_train_epoch_end(self):
        self._log_epoch("train")
        if self.epoch_lines:
            print(epoch_line(self.trainer, time.perf_counter() - self.epoch_start), flush=True)

    def on_validation_epoch_end(self):
        if self.trainer.sanity_checking:
            self.sums.pop("val", None)
            return
        row = {"epoch": self.current_epoch, "step": self.global_step}
        for stage in ("train", "val"):
            if stage in self.sums:
                total, count = self.sums[stage]
                row[f"{stage}_loss"] = float(total / count)
        row["lr"] = self.trainer.optimizers[0].param_groups[0]["lr"]
        row["wall_s"] = self.wall_before + time.perf_counter() - self.fit_started
        self.history.append(row)
        self._log_epoch("val")

    def configure_optimizers(self):
        training = self.hparams.training
        adam = optimiser(self.parameters(), training, fast=self.hparams.fast)
        if training["lr_reduce_patience"]:
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                adam,
                factor=training["lr_reduce_factor"],
                patience=training["lr_reduce_patience"],
                threshold=training["min_improvement"],
                threshold_mode="rel",
            )
            return {
                "optimizer": adam,
                "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss", "interval": "epoch"},
            }
        if not training["lr_end"]:
            return adam
        # Exponential decay per optimiser step, from lr to lr_end after lr_decay_steps steps
        # (the planned run's steps by default), η_k = lr · (lr_end / lr)^(k / steps).
        steps = training["lr_decay_steps"] or max(1, self.trainer.estimated_stepping_batches)
        gamma = (training["lr_end"] / training["lr"]) ** (1 / steps)
        schedule = torch.optim.lr_scheduler.ExponentialLR(adam, gamma)
        return {"optimizer": adam, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class ResumeCheckpoint(ModelCheckpoint):
    """The checkpoint a killed run resumes from. It carries every epoch's row, so its cost grows
    with the run (a write took 0.19 s by the 83 334th epoch of the VPT paper's schedule, more
    than that epoch's steps): after an epoch it is written only once the time since the last
    write is `PAUSE` times what that write took, which keeps writing under 1/`PAUSE` of the
    training time. Early in a run, and in any short one, that is every epoch."""

    PAUSE = 20

    def __init__(self, folder: RunFolder):
        super().__init__(
            dirpath=folder.progress, filename=folder.resume.stem, enable_version_counter=False
        )
        self.next_write = 0.0

    # Every save of a ModelCheckpoint goes through this method (Lightning 2.6, pinned in the lock).
    def _save_checkpoint(self, trainer, filepath):
        started = time.perf_counter()
        if started < self.next_write:
            return
        super()._save_checkpoint(trainer, filepath)
        self.next_write = time.perf_counter() + self.PAUSE * (time.perf_counter() - started)


class BudgetCheckpoints(pl.Callback):
    """A copy of the best weights so far once each budget of epochs is spent, for the reports'
    error-against-budget curves. Taken as the next epoch starts (or training ends): Lightning
    runs checkpoint callbacks last, so `best.ckpt` is up to date only then."""

    def __init__(self, folder: RunFolder, epochs: list[int]):
        self.folder, self.epochs = folder, set(epochs)

    def _keep(self, epochs_done: int):
        if epochs_done in self.epochs and self.folder.best.exists():
            self.folder.budgets.mkdir(exist_ok=True)
            shutil.copyfile(self.folder.best, self.folder.budgets / f"epoch-{epochs_done}.ckpt")

    def on_train_epoch_start(self, trainer, pl_module):
        self._keep(trainer.current_epoch)

    def on_train_end(self, trainer, pl_module):
        self._keep(trainer.current_epoch)


def early_stopping(training: dict) -> EarlyStopping:
    """Stops after `patience` epochs in which the validation loss never fell more than
    `min_improvement` (relative) below its best, and at the first non-finite one (diverged)."""
    return EarlyStopping(
        "val_log_loss",
        min_delta=-math.log1p(-training["min_improvement"]),
        patience=training["patience"],
    )


def epoch_line(trainer: pl.Trainer, seconds: float) -> str:
    """`epoch 3/40: train_loss 0.0123 val_loss 0.0145 lr 0.002 1.4 s`, for a job's log."""
    metrics = trainer.callback_metrics
    losses = " ".join(
        f"{name} {float(metrics[name]):.4g}"
        for name in ("train_loss", "val_loss")
        if name in metrics
    )
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    epoch = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
    return f"{epoch}: {losses} lr {lr:.3g} {seconds:.1f} s"


# Training settings a killed run may resume with other values of: where and how fast it runs,
# and when it stops (a run may be resumed to train longer), not what a step computes.
RESUMABLE_CHANGES = (
    "threads",
    "accelerator",
    "pin_memory",
    "compile",
    "compile_mode",
    "max_epochs",
    "patience",
)


def train(
    data: Path, out: Path, plugin: str, hparams: dict, training: dict, seed: int, budgets=()
) -> dict:
    """Train one (system, model, seed) into `out`; returns what `train.json` records. The best
    weights after each epoch in `budgets` are kept in `out/budgets/`."""
    out = Path(out)
    pl.seed_everything(seed, workers=True, verbose=False)
    torch.set_num_threads(training["threads"])
    spec = spec_from_store(open_store(data))
    folder = RunFolder(out)
    try:
        module = PluginModule(plugin, hparams, spec.to_dict(), training)
    except PluginError as err:  # the plugin's own fault: recorded, the other runs go on
        return folder.record_failure(plugin, hparams, seed, err)
    # A terminal shows Lightning's progress bar; a log file (Snakemake, a cluster) a line an epoch.
    module.epoch_lines = not sys.stderr.isatty()
    model = module.model
    precision = {"32": "32-true", "64": "64-true"}.get(training["precision"], training["precision"])
    data_module = TrajectoryWindows(
        data,
        model.input_steps,
        model.output_steps,
        training["batch_size"],
        training["pin_memory"],
        features=model.takes_features,
        dtype=precision_dtype(training["precision"]),
    )
    folder.claim(
        {
            "plugin": plugin,
            "plugin_source_sha256": source_digest(type(model)),
            "hparams": hparams,
            "training": {k: v for k, v in training.items() if k not in RESUMABLE_CHANGES},
            "seed": seed,
        }
    )
    checkpoint = ModelCheckpoint(
        dirpath=folder.progress,
        filename="best",
        monitor="val_loss",
        mode="min",
        enable_version_counter=False,
        save_weights_only=True,  # the resume checkpoint holds the rest
    )
    trainer = pl.Trainer(
        max_epochs=training["max_epochs"],
        accelerator=training["accelerator"],
        devices=1,
        precision=precision,
        # The live metrics.csv; the published one is written from module.history.
        logger=CSVLogger(save_dir=folder.live_log, name="", version=""),
        callbacks=[
            checkpoint,
            ResumeCheckpoint(folder),  # a killed job resumes from it when run again
            early_stopping(training),
            BudgetCheckpoints(folder, budgets),
        ],
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        deterministic=True,
        log_every_n_steps=1,  # metrics are logged per epoch; this only silences a warning
    )
    initial_weights = copy.deepcopy(module.state_dict())
    start = time.perf_counter()
    resumed_from = None
    if folder.resume.exists():
        resumed_from = torch.load(folder.resume, map_location="cpu", weights_only=False)["epoch"]
        print(f"{out}: resuming from epoch {resumed_from}", flush=True)
    try:
        trainer.fit(
            module,
            datamodule=data_module,
            ckpt_path=folder.resume if resumed_from is not None else None,
        )
    except PluginError as err:
        return folder.record_failure(plugin, hparams, seed, err)
    except SIGTERMException as stop:
        # Lightning exits with status 0 on SIGTERM; the job must fail so that it is run again.
        raise PhasebenchError(
            f"training of '{plugin}' was terminated; run it again to resume"
        ) from stop
    wall = time.perf_counter() - start
    last_val = float(trainer.callback_metrics.get("val_loss", float("nan")))
    diverged = not math.isfinite(last_val)
    best = checkpoint.best_model_score
    best = float(best) if best is not None and math.isfinite(float(best)) else None
    if best is None or not folder.best.exists():
        # Never a finite validation loss: the last good weights are the initial ones.
        module.load_state_dict(initial_weights)
        trainer.save_checkpoint(folder.best, weights_only=True)
        diverged = True
    val_losses = [row.get("val_loss", math.nan) for row in module.history]
    summary = {
        "plugin": plugin,
        "family": model.family,
        "hparams": hparams,
        "seed": seed,
        "status": "diverged" if diverged else "ok",
        **judge(val_losses, diverged, trainer.current_epoch, training["max_epochs"]),
        # Training seconds over every process of the run (a resumed run counts its kills too).
        "wall_time_s": module.history[-1]["wall_s"] if module.history else wall,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "best_val_loss": best,
        "final_val_loss": last_val if math.isfinite(last_val) else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "input_steps": model.input_steps,
        "output_steps": model.output_steps,
        "device": str(trainer.strategy.root_device),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "resumed_from_epoch": resumed_from,
    }
    if model.diagnostics():  # of this process's training and validation steps
        summary["diagnostics"] = model.diagnostics()
    folder.publish(module.history)
    # Last, so that train.json exists only beside a complete set of outputs.
    (out / "train.json").write_text(json.dumps(summary, indent=2))
    return summary

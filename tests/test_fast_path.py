"""The fast training path computes what the plain reference path computes: layer by layer, and
over a few optimiser steps of whole models in float64."""

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import TensorDataset

from phasebench.fastpath import compile_decision, reference_path
from phasebench.layers.feature_major import cayley
from phasebench.model import build_model
from phasebench.spec import SystemSpec
from phasebench.training import PluginModule, window_loader

from conftest import TINY_TRAINING

RIGID = SystemSpec("rigid_body", 3, ("z1", "z2", "z3"), False, 0.2)
OSCILLATOR = SystemSpec("coupled_oscillator", 4, ("q1", "q2", "p1", "p2"), True, 0.4)
PAPER_TRANSFORMER = {"depth": 3, "heads": 1, "embed": 0, "ff_width": 0, "add_connection": False}


@pytest.mark.parametrize("n", [2, 3])
def test_closed_form_cayley_is_the_linear_solve(n):
    torch.manual_seed(n)
    a = torch.randn(n, n, 50, dtype=torch.float64)
    c = 3 * (a - a.transpose(0, 1))  # skew in its first two axes, entries of order 10
    eye = torch.eye(n, dtype=torch.float64)
    batch_first = c.movedim((0, 1), (-2, -1))
    solved = torch.linalg.solve(eye - batch_first, eye + batch_first)
    torch.testing.assert_close(cayley(c).movedim((0, 1), (-2, -1)), solved, rtol=0, atol=1e-13)
    orthogonal = solved @ solved.transpose(-1, -2)
    torch.testing.assert_close(orthogonal, eye.expand_as(orthogonal), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "plugin, hparams, window",
    [("vpt", {}, 3), ("vpt", {"window": 2}, 2), ("vpt", {"window": 5}, 5), ("vpff", {}, 1)],
)
def test_feature_major_layers_compute_the_plain_formulas(plugin, hparams, window):
    torch.manual_seed(0)
    model = build_model(plugin, RIGID, hparams).double()
    x = torch.randn(40, window, 3, dtype=torch.float64, requires_grad=True)
    fast = model(x)
    (fast_grad,) = torch.autograd.grad(fast.square().sum(), x)
    with reference_path():
        plain = model(x)
        (plain_grad,) = torch.autograd.grad(plain.square().sum(), x)
    assert fast.shape == plain.shape == (40, window, 3)
    torch.testing.assert_close(fast, plain, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-11, atol=1e-11)


def training_losses(plugin, hparams, spec, fast: bool, steps=6, seed=0) -> list[float]:
    """Losses of `steps` optimiser steps of Lightning training in float64 from one seed, each
    on the same whole batch (so that a working optimiser lowers the loss)."""
    pl.seed_everything(seed, verbose=False)
    data = torch.randn(512, 6, spec.dim, dtype=torch.float64)
    module = PluginModule(plugin, hparams, spec.to_dict(), {**TINY_TRAINING, "lr": 1e-2}, fast)
    k, m = module.model.input_steps, module.model.output_steps
    loader = window_loader(TensorDataset(data[:, :k], data[:, k : k + m]), 512, shuffle=True)
    losses = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(outputs["loss"].item())

    trainer = pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        precision="64-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Record()],
        limit_val_batches=0,
    )
    if fast:
        trainer.fit(module, train_dataloaders=loader)
    else:
        with reference_path():
            trainer.fit(module, train_dataloaders=loader)
    return losses


@pytest.mark.parametrize(
    "plugin, hparams, spec",
    [
        ("vpt", {}, RIGID),
        ("vpff", {}, RIGID),
        ("transformer", PAPER_TRANSFORMER, RIGID),
        ("hnn", {"width": 16}, OSCILLATOR),
        ("g_sympnet", {"width": 16}, OSCILLATOR),
    ],
)
def test_fast_and_reference_paths_train_to_the_same_losses(plugin, hparams, spec):
    fast = training_losses(plugin, hparams, spec, fast=True)
    plain = training_losses(plugin, hparams, spec, fast=False)
    assert len(fast) == len(plain) == 6
    assert fast[-1] < fast[0]  # it trains at all, so later losses carry the updates
    for a, b in zip(fast, plain, strict=True):
        assert abs(a - b) <= 1e-10 * abs(b)


def test_compile_auto_compiles_long_gpu_runs_only():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert compile_decision("auto", gpu, 100_000)
    assert not compile_decision("auto", gpu, 100)
    assert not compile_decision("auto", cpu, 100_000)
    assert compile_decision(True, cpu, 1) and not compile_decision(False, gpu, 10**6)

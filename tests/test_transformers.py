"""Transformer plugins and layers: Stiefel weights, volume preservation, splitting orders,
the VPT paper's sizes, and the training features they need."""

import copy
import math

import lightning.pytorch as pl
import pytest
import torch
from torch.autograd.functional import jacobian

from phasebench.evaluation import evaluate, load_model
from phasebench.layers import (
    LieTrotterLayer,
    MultiHeadAttention,
    StrangLayer,
    VolumePreservingAttention,
    volume_preserving_feedforward,
)
from phasebench.model import build_model
from phasebench.spec import SystemSpec
from phasebench.training import PluginModule, TrajectoryWindows, train

from conftest import TINY_TRAINING

RIGID = SystemSpec("rigid_body", 3, ("z1", "z2", "z3"), False, 0.2)
OSCILLATOR = SystemSpec("oscillator", 4, ("q1", "q2", "p1", "p2"), True, 0.4)


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_paper_sizes_give_the_paper_parameter_counts():
    assert count(build_model("vpt", RIGID, {"window": 3, "layers": 3, "n_blocks": 2})) == 162
    assert count(build_model("vpff", RIGID, {"n_blocks": 6})) == 135


def test_macaron_matches_the_transformer_parameter_count():
    for hparams in ({}, {"embed": 8, "ff_width": 12, "depth": 3}):
        assert count(build_model("macaron", OSCILLATOR, hparams)) == count(
            build_model("transformer", OSCILLATOR, hparams)
        )


def test_stiefel_weights_stay_orthonormal_after_optimiser_steps():
    torch.manual_seed(0)
    model = build_model("transformer", OSCILLATOR, {"stiefel": True, "embed": 8, "heads": 2})
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.randn(32, 3, 4), torch.randn(32, 3, 4)
    for _ in range(20):
        optimiser.zero_grad()
        torch.mean((model(x) - y) ** 2).backward()
        optimiser.step()
    attention = model.body.layers[0].attention
    for projection in [*attention.query, *attention.key, *attention.value]:
        w = projection.weight  # rows are the columns of P
        torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), rtol=0, atol=1e-5)


def test_precision_64_gives_float64_orthonormal_stiefel_weights(tiny_store, tmp_path):
    hparams = {"stiefel": True, "embed": 8, "heads": 2}
    training = {**TINY_TRAINING, "precision": "64", "max_epochs": 1}
    summary = train(tiny_store, tmp_path, "transformer", hparams, training, seed=0)
    model = load_model(tmp_path / "best.ckpt")  # the trained weights, as evaluation sees them
    for layer in model.body.layers:
        for projection in [*layer.attention.query, *layer.attention.key, *layer.attention.value]:
            w = projection.weight
            assert w.dtype == torch.float64
            assert (w @ w.T - torch.eye(w.shape[0], dtype=w.dtype)).abs().max() <= 1e-12
    # The float64 model rolls out on the float32 store.
    settings = {"horizons": [1.0], "valid_threshold": 0.1}
    _, scalars = evaluate(tmp_path / "best.ckpt", tiny_store, settings, summary, "stiefel")
    assert math.isfinite(scalars["final_error"])


def stiefel_error(model) -> float:
    """max |PPᵀ − I| over every Stiefel projection of a transformer (rows: P's columns)."""
    errors = [
        (p.weight @ p.weight.T - torch.eye(p.weight.shape[0], dtype=p.weight.dtype)).abs().max()
        for layer in model.body.layers
        for p in [*layer.attention.query, *layer.attention.key, *layer.attention.value]
    ]
    return float(max(errors))


def test_a_float32_stiefel_transformer_cast_or_loaded_to_float64_is_orthonormal_in_float64():
    torch.manual_seed(0)
    hparams = {"stiefel": True, "embed": 8, "heads": 2}
    single = build_model("transformer", OSCILLATOR, hparams)
    assert 1e-9 < stiefel_error(single) < 1e-5  # orthonormal to float32 roundoff
    x = torch.randn(5, 3, 4)
    # Cast: the orthogonal parametrisation's float32 base left PᵀP − I at 7e-7.
    cast = copy.deepcopy(single).double()
    assert stiefel_error(cast) <= 1e-12
    assert (cast(x.double()) - single(x).double()).abs().max() < 1e-5  # the same map
    # Loaded: a float32 state into a float64 model.
    loaded = build_model("transformer", OSCILLATOR, hparams, torch.float64)
    loaded.load_state_dict(single.state_dict())
    assert stiefel_error(loaded) <= 1e-12
    # A float32 model is left exactly as it is.
    again = copy.deepcopy(single).float()
    before, after = single.state_dict(), again.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)


def test_one_head_with_identity_projections_is_plain_attention():
    layer = MultiHeadAttention(4, heads=1, add_connection=False)
    with torch.no_grad():
        for projection in (layer.query[0], layer.key[0], layer.value[0]):
            projection.weight.copy_(torch.eye(4))
    x = torch.randn(5, 6, 4)
    scores = torch.softmax(x @ x.transpose(1, 2) / 2.0, dim=-1)  # √d = 2
    torch.testing.assert_close(layer(x), scores @ x)


def log_det_error(layer, shape=(3, 3), seed=0) -> float:
    torch.manual_seed(seed)
    x = torch.randn(*shape, dtype=torch.float64)
    jac = jacobian(lambda y: layer(y.reshape(1, *shape)).reshape(-1), x.reshape(-1))
    return abs(torch.linalg.det(jac).item() - 1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: VolumePreservingAttention(3),
        lambda: volume_preserving_feedforward(3, 2),
        lambda: build_model("vpt", RIGID, {}),
    ],
    ids=["vp_attention", "vpff", "vpt"],
)
def test_volume_preserving_layers_have_jacobian_determinant_one(make):
    layer = make().double()
    # Random weights, larger than the initial ones; not so large that the Jacobian becomes
    # ill-conditioned (its determinant then loses digits to rounding, cond · 1e-16).
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    for seed in range(3):
        assert log_det_error(layer, seed=seed) < 1e-10


def test_softmax_attention_is_not_volume_preserving():
    layer = MultiHeadAttention(3, heads=1).double()
    assert log_det_error(layer) > 1e-3


class LinearFlow(torch.nn.Module):
    """x ↦ (M − I) x scaled so that the layer's residual update is an exact sub-flow."""

    def __init__(self, matrix, weight=1.0, residual=True):
        super().__init__()
        self.matrix, self.weight, self.residual = matrix, weight, residual

    def forward(self, x):
        update = (x @ self.matrix.T - x) / self.weight
        return update if self.residual else x + update


def splitting_error(kind: str, steps: int) -> float:
    """Error at t = 1 of `steps` layers with exact sub-flows of ẋ = (A + B) x."""
    a = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.3, 0.0], [0.5, -0.2]], dtype=torch.float64)
    h = 1.0 / steps
    attention = LinearFlow(torch.linalg.matrix_exp(h * a), residual=False)
    if kind == "strang":
        half = LinearFlow(torch.linalg.matrix_exp(h * b / 2), weight=0.5)
        layer = StrangLayer(attention, half, half)
    else:
        layer = LieTrotterLayer(attention, LinearFlow(torch.linalg.matrix_exp(h * b)))
    x0 = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    x = x0
    for _ in range(steps):
        x = layer(x)
    exact = x0 @ torch.linalg.matrix_exp(a + b).T
    return torch.linalg.norm(x - exact).item()


@pytest.mark.parametrize(("kind", "ratio"), [("strang", 4.0), ("lie_trotter", 2.0)])
def test_splitting_orders_show_on_a_linear_ode(kind, ratio):
    coarse, fine = splitting_error(kind, 64), splitting_error(kind, 128)
    assert coarse / fine == pytest.approx(ratio, rel=0.1)


def fit(tiny_store, plugin, training, epochs=2):
    pl.seed_everything(0, verbose=False)
    module = PluginModule(plugin, {}, OSCILLATOR.to_dict(), {**TINY_TRAINING, **training})
    model = module.model
    data = TrajectoryWindows(tiny_store, model.input_steps, model.output_steps, 16)
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        precision="64-true" if training.get("precision") == "64" else "32-true",
    )
    trainer.fit(module, datamodule=data)
    return module, trainer


def test_learning_rate_decays_per_step_from_lr_to_lr_end(tiny_store):
    module, trainer = fit(tiny_store, "resnet", {"lr": 1e-2, "lr_end": 1e-4, "betas": [0.8, 0.9]})
    group = trainer.optimizers[0].param_groups[0]
    assert group["lr"] == pytest.approx(1e-4, rel=1e-6)
    assert group["betas"] == (0.8, 0.9)
    assert trainer.global_step == trainer.estimated_stepping_batches > 1


def test_learning_rate_decay_length_is_set_in_steps_whatever_max_epochs(tiny_store):
    settings = {"lr": 1e-2, "lr_end": 1e-6, "lr_decay_steps": 500}
    for epochs in (1, 2):
        _, trainer = fit(tiny_store, "resnet", settings, epochs=epochs)
        k = trainer.global_step
        expected = 1e-2 * (1e-4) ** (k / 500)  # the VPT paper's η_k with 500 for 500 000
        assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(expected, rel=1e-6)


def test_float64_training(tiny_store):
    module, _ = fit(tiny_store, "vpt", {"precision": "64", "loss": "relative"}, epochs=1)
    assert all(p.dtype == torch.float64 for p in module.model.parameters())
    assert math.isfinite(float(module.trainer.callback_metrics["val_loss"]))

"""Every registered model plugin, built-in or dropped in, honours the plugin contract."""

import lightning.pytorch as pl
import pytest
import torch

from phasebench import registry
from phasebench.evaluation import load_model
from phasebench.model import ModelPlugin, build_model
from phasebench.spec import SystemSpec
from phasebench.training import PluginModule, TrajectoryWindows

from conftest import TINY_TRAINING

MODELS = sorted(registry.scan("models"))
SPEC = SystemSpec("coupled_oscillator", 4, ("q1", "q2", "p1", "p2"), True, 0.4)


def make(name: str, seed: int = 0) -> ModelPlugin:
    pl.seed_everything(seed, verbose=False)
    return build_model(name, SPEC, {})


def batch(model: ModelPlugin, size: int = 8, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    window = torch.randn(size, model.input_steps, SPEC.dim, generator=gen)
    target = torch.randn(size, model.output_steps, SPEC.dim, generator=gen)
    return window, target


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_rollout_length(name):
    model = make(name)
    window, _ = batch(model)
    assert model(window).shape == (8, model.output_steps, SPEC.dim)
    path = model.rollout(window, 11)
    assert path.shape == (8, model.input_steps + 11, SPEC.dim)
    torch.testing.assert_close(path[:, : model.input_steps], window)


@pytest.mark.parametrize("name", MODELS)
def test_one_optimiser_step_lowers_the_loss_on_a_fixed_batch(name):
    model = make(name)
    window, target = batch(model)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = torch.mean((model(window) - target) ** 2)
    before.backward()
    optimiser.step()
    with torch.no_grad():
        after = torch.mean((model(window) - target) ** 2)
    assert after < before


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_output_other_seed_other_output(name):
    window, _ = batch(make(name))
    first, second, other = make(name, 0)(window), make(name, 0)(window), make(name, 1)(window)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip_through_lightning(name, tiny_store, tmp_path):
    pl.seed_everything(0, verbose=False)
    module = PluginModule(name, {}, SPEC.to_dict(), TINY_TRAINING)
    model = module.model
    data = TrajectoryWindows(tiny_store, model.input_steps, model.output_steps, 64)
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    restored = load_model(tmp_path / "m.ckpt")
    window, _ = batch(model)
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(window), model(window), rtol=0, atol=0)
    assert type(restored).name == name


@pytest.mark.parametrize("name", MODELS)
def test_hyperparameters_come_from_the_signature(name):
    info = registry.scan("models")[name]
    cls = registry.load_class(info)
    assert cls.hparam_defaults() == {h.name: h.default for h in info.hparams}
    assert isinstance(cls.family, str) and cls.input_steps >= 1 and cls.output_steps >= 1

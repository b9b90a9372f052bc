"""Every registered model plugin, built-in or dropped in, honours the plugin contract."""

import lightning.pytorch as pl
import pytest
import torch

from phasebench import registry
from phasebench.evaluation import load_model
from phasebench.model import ModelPlugin, build_model, roll_out
from phasebench.plugin_check import system_spec
from phasebench.spec import SystemSpec
from phasebench.system import build_system
from phasebench.training import PluginModule, TrajectoryWindows

from conftest import TINY_TRAINING

MODELS = sorted(registry.scan("models"))
SPEC = SystemSpec("coupled_oscillator", 4, ("q1", "q2", "p1", "p2"), True, 0.4)
# Models whose initial weights are not random: `linear`'s one parameter starts at dt.
UNSEEDED = {"linear"}
# Particle models (requires "particles") are checked on the charged N-body system.
PARTICLE_SPEC = system_spec(build_system("nbody_charged"))


def spec_of(name: str) -> SystemSpec:
    requires = registry.scan("models")[name].attrs.get("requires", ())
    return PARTICLE_SPEC if "particles" in requires else SPEC


def make(name: str, seed: int = 0) -> ModelPlugin:
    pl.seed_everything(seed, verbose=False)
    return build_model(name, spec_of(name), {})


def batch(model: ModelPlugin, size: int = 8, seed: int = 1):
    """A window, a target and (for a particle model) features."""
    gen = torch.Generator().manual_seed(seed)
    dim = model.spec.dim
    window = torch.randn(size, model.input_steps, dim, generator=gen)
    target = torch.randn(size, model.output_steps, dim, generator=gen)
    features = None
    if model.takes_features:
        shape = (size, model.spec.particles, len(model.spec.feature_names))
        features = torch.randn(*shape, generator=gen)
    return window, target, features


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_rollout_length(name):
    model = make(name)
    window, _, features = batch(model)
    dim = model.spec.dim
    assert model.step(window, features).shape == (8, model.output_steps, dim)
    path = roll_out(model, window, 11, features)
    assert path.shape == (8, model.input_steps + 11, dim)
    torch.testing.assert_close(path[:, : model.input_steps], window)


@pytest.mark.parametrize("name", MODELS)
def test_one_optimiser_step_lowers_the_loss_on_a_fixed_batch(name):
    model = make(name)
    window, target, features = batch(model)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = torch.mean((model.step(window, features) - target) ** 2)
    before.backward()
    optimiser.step()
    with torch.no_grad():
        after = torch.mean((model.step(window, features) - target) ** 2)
    assert after < before


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_output_other_seed_other_output(name):
    window, _, features = batch(make(name))
    first, second, other = (make(name, seed).step(window, features) for seed in (0, 0, 1))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    if name not in UNSEEDED:
        assert not torch.allclose(first, other)


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip_through_lightning(name, tiny_store, tiny_particle_store, tmp_path):
    pl.seed_everything(0, verbose=False)
    spec = spec_of(name)
    module = PluginModule(name, {}, spec.to_dict(), TINY_TRAINING)
    model = module.model
    store = tiny_particle_store if model.takes_features else tiny_store
    data = TrajectoryWindows(
        store, model.input_steps, model.output_steps, 64, features=model.takes_features
    )
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
    window, _, features = batch(model)
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            restored.step(window, features), model.step(window, features), rtol=0, atol=0
        )
    assert type(restored).name == name


@pytest.mark.parametrize("name", MODELS)
def test_hyperparameters_come_from_the_signature(name):
    info = registry.scan("models")[name]
    cls = registry.load_class(info)
    assert cls.hparam_defaults() == {h.name: h.default for h in info.hparams}
    assert isinstance(cls.family, str) and cls.input_steps >= 1 and cls.output_steps >= 1

"""The config schema, its defaults, and resolution against the registered plugins."""

import re

import pytest
import yaml

from phasebench.config import _merge, resolve
from phasebench.errors import ConfigError

from conftest import REPO


def test_defaults_fill_an_empty_config():
    plan = resolve({})
    assert list(plan["systems"]) == ["coupled_oscillator"]
    assert {"resnet", "lstm"} <= set(plan["models"])  # models: all
    assert plan["seeds"] == [0]
    system = plan["systems"]["coupled_oscillator"]
    # The plugin's literals (coupled_oscillator sets dt, substeps and integrator; n_steps and
    # n_trajectories are System's), resolved here and nowhere else.
    assert {k: system[k] for k in ("dt", "substeps", "integrator", "n_steps")} == {
        "dt": 0.4, "substeps": 4, "integrator": "yoshida4", "n_steps": 200
    }  # fmt: skip
    assert system["n_trajectories"] == 128 and system["initial_conditions"] == "sampled"
    assert system["splits"]["train"] == 0.7 and system["ood_fraction"] == 0.15
    assert system["params"]["k1"] == 1.5  # the plugin's defaults, overridable
    resnet = plan["models"]["resnet"]
    assert resnet["hparams"] == {"width": 64, "depth": 2}
    assert resnet["training"]["max_epochs"] == 30


def test_the_experiment_hash_holds_the_systems_resolved_settings():
    # Before: dt was decided in the simulate job, so the hash of an empty config and that of
    # one setting the plugin's own dt differed, and changing a plugin's dt changed neither.
    default = resolve({})
    same = resolve({"systems": [{"name": "coupled_oscillator", "dt": 0.4, "substeps": 4}]})
    other = resolve({"systems": [{"name": "coupled_oscillator", "dt": 0.2}]})
    assert default["experiment_hash"] == same["experiment_hash"] != other["experiment_hash"]
    rigid = resolve({"systems": ["rigid_body"]})["systems"]["rigid_body"]
    # The reference set's size is the data's, not a default: it stays null until simulated.
    assert rigid["initial_conditions"] == "reference" and rigid["n_trajectories"] is None
    assert (rigid["dt"], rigid["integrator"], rigid["n_steps"]) == (0.2, "implicit_midpoint", 100)


def test_shipped_configs_are_valid():
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in [REPO / "config.yaml", *sorted((REPO / "configs").glob("*.yaml"))]:
        resolve(yaml.safe_load(path.read_text()), source=str(path))
        # As snakemake reads it: config.yaml, then the file on top.
        resolve(_merge(base, yaml.safe_load(path.read_text())), source=f"config.yaml + {path}")


def test_variants_are_separate_models_with_merged_settings():
    plan = resolve(
        {
            "models": [
                "resnet",
                {"plugin": "resnet", "name": "resnet_wide", "hparams": {"width": 128}},
                {"plugin": "lstm", "training": {"lr": 0.01}},
            ],
            "training": {"batch_size": 32},
        }
    )
    assert list(plan["models"]) == ["resnet", "resnet_wide", "lstm"]
    assert plan["models"]["resnet_wide"]["hparams"] == {"width": 128, "depth": 2}
    assert plan["models"]["lstm"]["training"]["lr"] == 0.01
    assert plan["models"]["lstm"]["training"]["batch_size"] == 32  # global value kept
    assert plan["models"]["resnet"]["training"]["lr"] == 0.001
    assert len(plan["runs"]) == 3 and plan["skipped"] == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"trainig": {}}, "x.yaml: unknown key 'trainig' in the top level; accepted keys: "),
        ({"training": {"max_epoch": 3}}, "unknown key 'max_epoch' in training; accepted keys: "),
        ({"training": {"batch_size": "big"}}, "training.batch_size must be of type integer, not"),
        ({"training": {"lr": -1}}, "training.lr must be > 0, not -1"),
        (
            {"training": {"loss": "l1"}},
            "training.loss must be one of mse, relative, mse_positions, not 'l1'",
        ),
        ({"seeds": 3}, "seeds must be of type array, not 3"),
        ({"models": "some"}, "models must be 'all' or a list of model names or entries"),
        ({"models": ["transformerr"]}, "models[0] names unknown model plugin 'transformerr'; avai"),
        ({"systems": ["moon"]}, "systems[0] names unknown system 'moon'; available: coupled_osc"),
        (
            {"systems": [{"name": "coupled_oscillator", "n_trajectory": 3}]},
            "unknown key 'n_trajectory' in systems[0]; accepted keys: burn_in, dt, dtype",
        ),
        (
            {"systems": [{"name": "coupled_oscillator", "params": {"mass": 2}}]},
            "systems[0].params: unknown parameter 'mass' of system 'coupled_oscillator'; accepted",
        ),
        (
            {"models": [{"plugin": "resnet", "hparams": {"widht": 8}}]},
            "models[0].hparams: unknown hyperparameter 'widht' of model plugin 'resnet' "
            "(resnet.py); accepted: width (int, default 64), depth (int, default 2)",
        ),
        (
            {"models": [{"plugin": "resnet", "hparams": {"width": 8.5}}]},
            "models[0].hparams.width must be of type int for model plugin 'resnet', not 8.5",
        ),
        ({"models": ["resnet", "resnet"]}, "models[1]: a model named 'resnet' is already listed"),
        (
            {"models": [{"plugin": "resnet", "name": "a/b"}]},
            "models[0]: model name 'a/b' is not path-safe: use letters, digits and",
        ),
        ({"models": [{"plugin": "resnet", "name": ".."}]}, "model name '..' is not path-safe"),
        (
            {"models": [{"plugin": "resnet", "name": "numerical"}]},
            "models[0]: model name 'numerical' is reserved (results/eval/{system}/numerical/",
        ),
        ({"models": [{"plugin": "resnet", "name": "all"}]}, "model name 'all' is reserved"),
        (
            {"models": [{"plugin": "lstm", "grid": {"hparams": {"hidden": [8, "a b"]}}}]},
            "models[0]: model name 'lstm[hidden=a b]' is not path-safe",
        ),
    ],
)
def test_bad_config_gives_one_sentence_naming_the_file_and_key(config, message):
    with pytest.raises(ConfigError) as caught:
        resolve(config, source="x.yaml")
    text = str(caught.value)
    assert text.startswith("x.yaml: ") and message in text
    assert "\n" not in text


def test_incompatible_pairs_are_skipped_with_a_reason(workflow_copy):
    (workflow_copy / "plugins/models/needs_odd.py").write_text(
        "from phasebench import ModelPlugin\n\n\nclass Odd(ModelPlugin):\n"
        '    name = "odd_only"\n    requires = ("odd_dimension",)\n'
    )
    plan = resolve({}, root=workflow_copy)
    assert {"system": "coupled_oscillator", "model": "odd_only"} not in plan["runs"]
    assert [s for s in plan["skipped"] if s["model"] == "odd_only"] == [
        {
            "system": "coupled_oscillator",
            "model": "odd_only",
            "reason": "odd_only requires odd_dimension, which coupled_oscillator lacks",
        }
    ]
    # The particle models need a particle system.
    assert {
        "system": "coupled_oscillator",
        "model": "egnn",
        "reason": "egnn requires particles, which coupled_oscillator lacks",
    } in plan["skipped"]


def test_grid_expands_to_named_variants_in_order():
    plan = resolve(
        {
            "models": [
                {
                    "plugin": "resnet",
                    "grid": {"hparams": {"width": [8, 16]}, "training": {"lr": [0.001, 0.01]}},
                }
            ]
        }
    )
    assert list(plan["models"]) == [
        "resnet[width=8,lr=0.001]",
        "resnet[width=8,lr=0.01]",
        "resnet[width=16,lr=0.001]",
        "resnet[width=16,lr=0.01]",
    ]
    variant = plan["models"]["resnet[width=16,lr=0.01]"]
    assert variant["hparams"] == {"width": 16, "depth": 2} and variant["training"]["lr"] == 0.01
    assert variant["sweep"] == "resnet" and variant["swept"] == {"width": 16, "lr": 0.01}
    assert plan["sweeps"]["resnet"]["resnet[width=8,lr=0.001]"] == {"width": 8, "lr": 0.001}
    assert len(plan["runs"]) == 4


def test_random_search_draws_reproducible_typed_values_in_range():
    entry = {
        "plugin": "lstm",
        "random": {
            "draws": 5,
            "seed": 1,
            "hparams": {"hidden": {"low": 4, "high": 64, "log": True}, "layers": [1, 2]},
            "training": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
        },
    }
    first, second = resolve({"models": [entry]}), resolve({"models": [entry]})
    assert list(first["models"]) == list(second["models"])  # same seed, same draws
    assert len(first["models"]) == 5
    for name, model in first["models"].items():
        assert name.startswith("lstm[draw=")
        assert isinstance(model["hparams"]["hidden"], int) and 4 <= model["hparams"]["hidden"] <= 64
        assert model["hparams"]["layers"] in (1, 2)
        assert 1e-4 <= model["training"]["lr"] <= 1e-2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"models": [{"plugin": "resnet", "grid": {"hparams": {"width": list(range(1, 70))}}}]},
            "the models expand to 69 variants (resnet: 69), more than sweeps.max_variants = 64",
        ),
        (
            {"models": [{"plugin": "resnet", "grid": {"hparams": {"width": [8, 1.5]}}}]},
            "models[0].grid.hparams.width must be of type int for model plugin 'resnet', not 1.5",
        ),
        (
            {"models": [{"plugin": "resnet", "grid": {"training": {"lr": [0.1, -1]}}}]},
            "models[0].grid.training.lr must be > 0, not -1",
        ),
        (
            {"models": [{"plugin": "resnet", "random": {"hparams": {"width": [8, 16]}}}]},
            "models[0].random needs draws (or set sweeps.budget_per_family)",
        ),
        (
            {
                "sweeps": {"budget_per_family": 2},
                "models": [
                    {"plugin": "resnet", "random": {"hparams": {"width": [8, 16]}}},
                    {"plugin": "resnet", "name": "r2", "grid": {"hparams": {"depth": [1, 2]}}},
                ],
            },
            "family 'feed-forward' is given 4 variants, more than sweeps.budget_per_family = 2",
        ),
    ],
)
def test_bad_sweeps_are_named(config, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve(config, source="x.yaml")


def test_budget_per_family_sets_the_draws():
    plan = resolve(
        {
            "sweeps": {"budget_per_family": 3},
            "models": [{"plugin": "lstm", "random": {"hparams": {"hidden": [8, 16, 32]}}}],
        }
    )
    assert len(plan["models"]) == 3


def random_search(**sections):
    return {"models": [{"plugin": "lstm", "random": {"draws": 2, **sections}}]}


STUDY = {"attention_kernels": {"enabled": True}}
FEW = {"name": "pendulum", "n_trajectories": 4, "splits": {"train": 0.1, "val": 0.45, "test": 0.45}}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            random_search(hparams={"hidden": {"low": 64, "high": 8}}),
            "models[0].random.hparams.hidden: low must be below high, not 64 >= 8",
        ),
        (
            random_search(training={"lr": {"low": 0, "high": 1, "log": True}}),
            "models[0].random.training.lr: log: true needs low > 0, not 0",
        ),
        ({"seeds": [2**40]}, "seeds[0] must be <= 4294967295"),
        ({"seeds": [0, 1, 0]}, "seeds lists 0 more than once; give each value once"),
        (
            {"systems": [FEW]},
            "systems[0].splits leave no training trajectory of 4 (val and test take at least one",
        ),
        (
            {"studies": {"attention_kernels": {"enabled": True, "features": [16]}}},
            "studies.attention_kernels.features must list at least 2 item(s)",
        ),
        (
            {"models": ["lstm"], "studies": STUDY},
            "studies.attention_kernels.trained_model 'transformer' is not one of the models",
        ),
        (
            {"studies": {"attention_kernels": {"enabled": True, "trained_model": "lstm"}}},
            "trained_model 'lstm' has no attention layer (family recurrent); accepted: macaron",
        ),
        (
            {"studies": {"vision": {"enabled": True, "width": 30, "heads": 4}}},
            "studies.vision.heads = 4 must divide studies.vision.width = 30",
        ),
        (
            {"studies": {"vision": {"enabled": True, "seeds": [0], "deep_seeds": [0, 1]}}},
            "studies.vision.deep_seeds [1] are not in studies.vision.seeds [0]",
        ),
        (
            {"studies": {"vision": {"models": ["vit_softmax", "vit_cosine"]}}},
            "studies.vision.models[1] must be one of",
        ),
        (
            {"studies": {"vision": {"layer_norms": "all"}}},
            "studies.vision.layer_norms must be one of",
        ),
        (
            {"training": {"precision": "16-mixed", "accelerator": "cpu"}},
            "training: precision 16-mixed needs a GPU (on CPU Lightning would use bf16 instead)",
        ),
        (
            {"models": [{"plugin": "lstm", "random": {"draws": 2, "seed": 2**70}}]},
            "models[0].random.seed must be <= 4294967295",
        ),
        (
            {"studies": {"attention_kernels": {"enabled": True, "seed": -1}}},
            "studies.attention_kernels.seed must be >= 0, not -1",
        ),
        (
            {"systems": [{"name": "pendulum", "n_steps": 4}], "models": ["mlp"]},
            "model 'mlp' trains on windows of 8 states, but system 'pendulum' gives 5 per "
            "trajectory for training; raise its n_steps",
        ),
        (
            {"systems": [{"name": "pendulum", "train_horizon": 0.3}], "models": ["mlp"]},
            "system 'pendulum' gives 4 per trajectory for training; raise its train_horizon",
        ),
        (
            {"models": [{"plugin": "transformer", "hparams": {"window": 150}}]},
            "model 'transformer' trains on windows of 300 states, but system 'coupled_oscillator'",
        ),
        (
            {"systems": [{"name": "pendulum", "initial_conditions": "reference"}]},
            "systems[0].initial_conditions: system 'pendulum' has no reference initial states",
        ),
        (
            {"systems": [{"name": "rigid_body", "n_trajectories": 100}]},
            "systems[0].n_trajectories: system 'rigid_body' takes its reference initial states",
        ),
        (
            {"models": [{"plugin": "resnet", "hparams": {"width": -4}}]},
            "models[0].hparams.width must be >= 1, not -4 (model plugin 'resnet')",
        ),
        (
            {"models": [{"plugin": "transformer", "hparams": {"heads": 3}}]},
            "model 'transformer': heads = 3 must divide embed (16)",
        ),
        (
            {"models": [{"plugin": "transformer", "hparams": {"heads": 3, "embed": 0}}]},
            "heads = 3 must divide the dimension of 'coupled_oscillator' (4)",
        ),
        (
            {"systems": [{"name": "pendulum", "sweep": {"m": {"low": -1, "high": 1}}}]},
            "systems[0].sweep.m.low must be > 0 (parameter 'm' of system 'pendulum' is positive)",
        ),
        (
            {"systems": [{"name": "kepler", "params": {"G": 0}}]},
            "systems[0].params.G must be > 0",
        ),
        (
            {"evaluation": {"horizons": [10.0, 1000.0]}},
            "evaluation.horizons [1000.0] lie beyond the data of system 'coupled_oscillator' "
            "(t <= 80)",
        ),
    ],
    ids=[
        "random-low-above-high",
        "log-range-from-zero",
        "seed-beyond-numpy",
        "duplicate-seeds",
        "no-training-trajectories",
        "one-feature-count",
        "study-model-missing",
        "study-model-without-attention",
        "vision-heads-not-dividing-width",
        "vision-deep-seed-not-drawn",
        "vision-unknown-model",
        "vision-unknown-layer-norms",
        "16-mixed-on-cpu",
        "random-search-seed-beyond-numpy",
        "study-seed-negative",
        "window-longer-than-data",
        "window-longer-than-training-horizon",
        "window-hparam-longer-than-data",
        "reference-initial-conditions-missing",
        "n-trajectories-with-reference-set",
        "negative-width",
        "heads-not-dividing-embed",
        "heads-not-dividing-dimension",
        "negative-mass-in-sweep",
        "zero-gravity-constant",
        "horizon-beyond-data",
    ],
)
def test_late_errors_are_one_sentence_at_validation(config, message):
    with pytest.raises(ConfigError) as caught:
        resolve(config, source="x.yaml")
    text = str(caught.value)
    assert text.startswith("x.yaml: ") and message in text and "\n" not in text

"""The image study: digits and splits, patches, every attention of the vision transformer, the
training loop, the scikit-learn baselines and the study's table and goals."""

import ast
import json
import math

import geoopt
import numpy as np
import pandas as pd
import pytest
import torch

from phasebench.config import resolve
from phasebench.studies.vision import study
from phasebench.studies.vision.baselines import BASELINES, run_baseline
from phasebench.studies.vision.data import digits, random_train_size, split
from phasebench.studies.vision.models import VisionTransformer, n_patches, patches
from phasebench.studies.vision.stiefel import manifold_parameters, put_on_stiefel
from phasebench.studies.vision.train import fit, optimisers, score, shifted, views, warped

from conftest import REPO


@pytest.fixture(scope="module")
def data():
    return digits()


def test_digits_are_the_shipped_images_scaled(data):
    images, labels = data
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert images.min() == 0 and images.max() == 1
    assert set(labels.tolist()) == set(range(10))


def test_random_split_is_stratified_disjoint_and_seeded(data):
    _, labels = data
    train, test = split("random", labels, seed=3)
    assert len(test) == 360 and len(train) == 1437 == random_train_size(len(labels))
    assert np.intersect1d(train, test).size == 0 and len(np.union1d(train, test)) == 1797
    counts = np.bincount(labels[test].numpy(), minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20 % of each class (~36)
    assert np.array_equal(split("random", labels, 3)[1], test)
    assert not np.array_equal(split("random", labels, 4)[1], test)


def test_sequential_split_is_the_two_halves(data):
    _, labels = data
    train, test = split("sequential", labels, seed=7)
    assert np.array_equal(train, np.arange(898)) and np.array_equal(test, np.arange(898, 1797))
    with pytest.raises(ValueError, match="unknown split 'shuffled'"):
        split("shuffled", labels)


def test_patches_cut_the_image_row_by_row():
    image = torch.arange(64.0).reshape(1, 8, 8)
    tiles = patches(image, 2)
    assert tiles.shape == (1, 16, 4)
    assert tiles[0, 1].tolist() == [2, 3, 10, 11]  # second patch of the first row
    assert tiles[0, 4].tolist() == [16, 17, 24, 25]  # first patch of the second row
    overlapping = patches(image, 4, 2)  # 4×4 every 2 pixels, one pixel of zero padding
    assert overlapping.shape == (1, n_patches(8, 4, 2), 16) == (1, 16, 16)
    assert overlapping[0, 0].reshape(4, 4)[1:, 1:].tolist() == image[0, :3, :3].tolist()
    assert overlapping[0, 0].reshape(4, 4)[0].abs().sum() == 0


def test_shifts_move_each_image_by_at_most_the_limit():
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(200, 8, 8)
    images[:, 4, 3] = 1.0
    moved = shifted(images, g, 1)
    rows, cols = (moved == 1).nonzero()[:, 1:].T
    assert len(rows) == 200  # every pixel kept (one pixel of room on every side)
    assert set(rows.tolist()) == {3, 4, 5} and set(cols.tolist()) == {2, 3, 4}
    assert torch.equal(shifted(images, g, 0), images)


@pytest.mark.parametrize("name", study.MODELS)
def test_every_model_classifies_and_takes_a_step(name):
    settings = {
        "width": 16,
        "depth": 1,
        "heads": 2,
        "features": 8,
        "deep_depth": 2,
        "layer_norms": "ends",
    }
    torch.manual_seed(0)
    model = study.build(name, settings)
    images, labels = torch.rand(5, 8, 8), torch.arange(5)
    logits = model(images)
    assert logits.shape == (5, 10) and torch.isfinite(logits).all()
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.cross_entropy(logits, labels).backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_deep_stiefel_model_tells_images_apart_at_initialisation_on_standardised_pixels(data):
    """Without a skip around attention every image's tokens collapse to one vector by the
    16th layer (in GML's network too). On raw pixels in [0, 1] (all non-negative, sharing one
    large mean) that vector is nearly the same for every image; standardised, it differs
    between images, which is what lets the deep Stiefel model learn (37 % → about 80 %)."""
    images, labels = data
    train, test = split("random", labels, 0)
    settings = {"deep_depth": 16}

    def last_token_spread(seed, pixels):
        torch.manual_seed(seed)
        model = study.build("deep_stiefel", settings, pixels)
        seen = []
        model.layers.register_forward_hook(lambda _, __, out: seen.append(out))
        with torch.no_grad():
            model(images[test])  # the model standardises the raw pixels itself
        tokens = seen[0]
        within = (tokens - tokens.mean(1, keepdim=True)).norm(dim=-1).max()
        last = tokens[:, -1]
        between = (last - last.mean(0)).norm(dim=-1).mean() / last.norm(dim=-1).mean()
        return within.item(), between.item()

    for seed in (0, 1, 2):
        within, standardised = last_token_spread(seed, study.pixel_stats(images[train]))
        _, raw = last_token_spread(seed, (0.0, 1.0))
        assert within < 1e-3  # the tokens of one image are one vector
        assert (
            standardised > 0.35 and standardised > raw
        )  # measured 0.40/0.63/0.72, raw 0.09/0.08/0.32


def test_a_layer_norm_in_front_of_every_layer_only_adds_norms(data):
    """`layer_norms: every` normalises the tokens entering every layer (without it the class
    token's attention in the second layer collapsed onto one token and training stalled on
    the sequential split); the rest of the model, its initial weights included, is the same."""
    images, _ = data
    settings = {"width": 16, "depth": 3, "heads": 2, "features": 8}
    models = {}
    for placement in ("ends", "every"):
        torch.manual_seed(0)
        models[placement] = study.build("vit_softmax", settings | {"layer_norms": placement})
    ends, every = models["ends"], models["every"]
    norms = [m for m in every.layers if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 and not any(isinstance(m, torch.nn.LayerNorm) for m in ends.layers)
    extra = sum(p.numel() for m in norms for p in m.parameters())
    total = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    assert total["every"] - total["ends"] == extra == 2 * 2 * 16
    # The same draws: a LayerNorm starts at ones and zeros, drawing nothing.
    added = {id(p) for m in norms for p in m.parameters()}
    kept = [p for p in every.parameters() if id(p) not in added]
    assert len(kept) == len(list(ends.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(kept, ends.parameters(), strict=True))
    entering = []
    for layer in every.layers[1:]:
        if not isinstance(layer, torch.nn.LayerNorm):
            layer.register_forward_pre_hook(lambda _, args: entering.append(args[0]))
    with torch.no_grad():
        every(images[:32])
    assert len(entering) == 2
    for tokens in entering:  # standardised over the features, per token
        assert tokens.mean(-1).abs().max() < 1e-4
        assert torch.allclose(tokens.var(-1, unbiased=False), torch.ones(()), atol=1e-2)


def test_fit_reports_every_epoch_and_trains_again_after_a_scoring_callback(data):
    images, labels = data
    torch.manual_seed(0)
    model = VisionTransformer(patch=4, stride=2, width=8, depth=1, heads=2, ff_width=16)
    seen, modes = [], []
    model.register_forward_pre_hook(lambda m, _: modes.append(m.training))

    def after_epoch(epoch):
        seen.append(epoch)
        score(model, images[:64], labels[:64])  # leaves the model in eval mode
        modes.clear()

    _, losses = fit(
        model, images[:128], labels[:128], epochs=3, lr=1e-2, batch_size=64, seed=0,
        after_epoch=after_epoch,
    )  # fmt: skip
    assert seen == [0, 1, 2] and len(losses) == 3
    model.train(False)
    fit(model, images[:128], labels[:128], epochs=1, lr=1e-2, batch_size=64, seed=0)
    assert modes and all(modes)  # every training step in training mode


def test_stiefel_projections_stay_orthonormal_while_training(data):
    images, labels = data
    torch.manual_seed(0)
    model = VisionTransformer(width=16, depth=2, heads=2, stiefel=True)
    # One manifold parameter holds all 2 layers × 3 × 2 heads bases, stepped by Riemannian
    # Adam; AdamW (with weight decay, which would pull them off the manifold) gets the rest.
    (bases,) = manifold_parameters(model)
    assert bases.shape == (12, 16, 8)
    adamw, riemannian = optimisers(model, 1e-2, weight_decay=0.1)
    assert isinstance(riemannian, geoopt.optim.RiemannianAdam)
    assert [p for g in riemannian.param_groups for p in g["params"]] == [bases]
    assert all(p is not bases for g in adamw.param_groups for p in g["params"])
    before = bases.detach().clone()
    _, losses = fit(
        model, images[:256], labels[:256], epochs=2, lr=1e-2, batch_size=64, seed=0,
        weight_decay=0.1,
    )  # fmt: skip
    assert all(math.isfinite(loss) for loss in losses)
    assert (bases - before).abs().max() > 1e-2  # trained, not frozen
    for layer in model.layers:
        attention = layer.attention
        for projection in [*attention.query, *attention.key, *attention.value]:
            p = projection.weight.T  # (d, d/h)
            assert torch.allclose(p.T @ p, torch.eye(p.shape[1]), atol=1e-5)
    # Distinct bases, not one shared by every projection.
    first = model.layers[0].attention
    assert not torch.allclose(first.query[0].weight, first.key[0].weight)


def test_put_on_stiefel_refuses_projections_of_two_shapes():
    model = torch.nn.Sequential(
        VisionTransformer(width=16, depth=1, heads=2), VisionTransformer(width=8, depth=1, heads=2)
    )
    with pytest.raises(ValueError, match="one shape expected"):
        put_on_stiefel(model)


def test_views_are_every_shift_with_the_images_in_the_middle():
    images = torch.rand(3, 8, 8)
    copies = views(images, 1)
    assert len(copies) == 9 and all(c.shape == images.shape for c in copies)
    assert torch.equal(copies[4], images) and views(images, 0)[0] is not None
    assert torch.equal(copies[0][:, 1:, 1:], images[:, :-1, :-1])  # moved down and right
    assert copies[0][:, 0].abs().sum() == 0


def test_the_test_time_average_differs_from_one_view_only_when_asked(data):
    images, labels = data
    torch.manual_seed(0)
    model = VisionTransformer(
        patch=4, stride=2, width=16, depth=1, heads=2, ff_width=32, norm=True, position_std=0.1
    )
    fit(model, images[:1200], labels[:1200], epochs=4, lr=1e-2, batch_size=32, seed=0, shift=1)
    plain = score(model, images[1200:], labels[1200:])
    assert plain["accuracy"] == plain["single_view"] > 0.3  # about 0.5 after 4 epochs
    averaged = score(model, images[1200:], labels[1200:], shift=1)
    assert averaged["single_view"] == plain["single_view"]
    assert averaged["accuracy"] != plain["accuracy"]  # nine views vote
    assert averaged["images_per_s"] < plain["images_per_s"]


def test_a_short_training_learns_the_digits(data):
    images, labels = data
    train, test = split("random", labels, 0)
    torch.manual_seed(0)
    model = VisionTransformer(patch=4, stride=2, width=16, depth=1, heads=2, ff_width=32)
    seconds, losses = fit(
        model, images[train], labels[train], epochs=8, lr=1e-2, batch_size=128, seed=0, shift=0
    )
    scored = score(model, images[test], labels[test])
    assert len(losses) == 8 and losses[-1] < 0.6 * losses[0] and seconds > 0
    assert scored["images_per_s"] > 0
    assert scored["accuracy"] > 0.4  # chance is 0.1; about 0.6 after these 8 epochs


def test_an_averaged_model_trains_the_same_steps_and_ends_with_the_average(data):
    images, labels = data

    def trained(**options):
        torch.manual_seed(0)
        model = VisionTransformer(patch=4, stride=2, width=8, depth=1, heads=2, ff_width=16)
        seen = []
        _, losses = fit(
            model, images[:256], labels[:256], epochs=3, lr=1e-2, batch_size=64, seed=0,
            after_epoch=lambda _: seen.append([p.clone() for p in model.parameters()]),
            **options,
        )  # fmt: skip
        return losses, seen, list(model.parameters())

    plain, plain_seen, plain_end = trained()
    averaged, seen, end = trained(ema=0.9)
    assert averaged == plain  # the average only reads the weights
    assert all(torch.equal(a, b) for a, b in zip(seen[-1], plain_seen[-1], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(end, plain_end, strict=True))
    # The average lies near the weights of the last epochs (decay 0.9: the last ~10 steps).
    far = sum((a - b).norm() for a, b in zip(end, plain_end, strict=True))
    start = sum((a - b).norm() for a, b in zip(seen[0], plain_end, strict=True))
    assert far < start


def test_warping_with_nothing_to_do_keeps_the_images(data):
    images = data[0][:8]
    g = torch.Generator().manual_seed(0)
    assert warped(images, g, 0, 0) is images
    turned = warped(images, g, 10, 0.1)
    assert turned.shape == images.shape and not torch.allclose(turned, images)
    assert torch.allclose(warped(images, g, 1e-4, 0), images, atol=1e-4)


@pytest.mark.parametrize(("name", "floor"), zip(BASELINES, (0.97, 0.97, 0.95), strict=True))
def test_baselines_match_their_known_accuracy(data, name, floor):
    images, labels = data
    train, test = split("random", labels, 0)
    row = run_baseline(name, images[train], labels[train], images[test], labels[test])
    # 1-NN about 98.9 %, the RBF SVC about 99 %, logistic regression about 97 %.
    assert floor <= row["accuracy"] <= 1 and row["test_images_per_s"] > 0


def test_study_rows_summary_and_goals():
    settings = {
        "models": ["vit_softmax", "vit_relu", "deep_stiefel"], "seeds": [0, 1],
        "sequential_seeds": [0], "deep_seeds": [1], "width": 8, "depth": 1, "heads": 2,
        "layer_norms": "every",
        "features": 4, "deep_depth": 1, "epochs": 1, "deep_epochs": 1, "lr": 1e-2,
        "batch_size": 256, "weight_decay": 0.0, "shift": 1, "test_shift": 1, "workers": 1,
    }  # fmt: skip
    rows = study.run(settings)
    # 2 ViTs × 3 (split, seed) pairs, the deep model on random split 1, baselines once per split.
    assert len(rows) == 2 * 3 + 1 + len(BASELINES) * 3
    # The sequential split's 898 images train as many steps as a random split's 1437.
    seq = rows[(rows.model == "vit_softmax") & (rows.split == "sequential")].iloc[0]
    assert len(seq.losses) == study.steps_epochs(1, 898, 1797) == 2
    assert study.steps_epochs(25, 898, 1797) == 40 and study.steps_epochs(25, 1437, 1797) == 25
    deep = rows[rows.model == "deep_stiefel"]
    assert deep[["split", "seed"]].values.tolist() == [["random", 1]]
    # Test-time averaging goes with training on shifts: the ViTs have it, the deep model not.
    assert (deep.single_view == deep.accuracy).all()
    assert {"single_view", "accuracy"} <= set(study.summary(rows).columns)
    # Every run, baselines too, says how well it fits its own training images.
    assert rows.train_accuracy.between(0, 1).all()
    svc = rows[(rows.model == "RBF SVC") & (rows.split == "sequential")].iloc[0]
    assert svc.train_accuracy > 0.99 > svc.accuracy  # the SVC fits its half, not the other
    table = study.summary(rows)
    assert (table.train_accuracy_min <= table.train_accuracy).all()
    softmax = table[(table.model == "vit_softmax") & (table.split == "random")].iloc[0]
    assert softmax.runs == 2 and softmax.accuracy_std >= 0 and softmax.params > 0
    goals = study.goals(table).set_index("goal")
    assert math.isnan(goals.loc["vit_exp within 1 point of softmax, random"].measured)
    gap = goals.loc["vit_relu within 1 point of softmax, random"]
    relu = table[(table.model == "vit_relu") & (table.split == "random")].iloc[0]
    assert gap.measured == pytest.approx(softmax.accuracy - relu.accuracy)


def test_parallel_workers_give_the_serial_rows_in_the_serial_order():
    settings = {
        "models": ["vit_softmax", "vit_favor", "deep_stiefel"], "seeds": [0, 1],
        "sequential_seeds": [2], "deep_seeds": [1], "width": 8, "depth": 1, "heads": 2,
        "layer_norms": "ends", "features": 4, "deep_depth": 2, "epochs": 2, "deep_epochs": 1,
        "lr": 1e-2, "batch_size": 128, "weight_decay": 0.1, "shift": 1, "test_shift": 1,
    }  # fmt: skip
    ended = {1: [], 2: []}
    rows = {
        workers: study.run(settings | {"workers": workers}, progress=ended[workers].append)
        for workers in (1, 2)
    }
    serial, parallel = rows[1], rows[2]
    trained = [r for r in serial.model if r not in BASELINES]
    assert len(trained) == 2 * 3 + 1  # 2 ViTs × 3 (split, seed) pairs, the deep model once
    assert len(serial) == len(trained) + 3 * len(BASELINES)
    key = ["model", "split", "seed"]
    assert parallel[key].values.tolist() == serial[key].values.tolist()
    # Each run seeds itself, so another process trains it to the same numbers.
    for column in ("accuracy", "single_view", "train_accuracy", "params", "losses"):
        assert parallel[column].equals(serial[column]), column
    assert len(set(serial.accuracy[serial.model == "vit_softmax"])) > 1  # seeds do differ
    # The progress callback sees every row once, whichever worker made it.
    for seen in ended.values():
        assert sorted((r["model"], r["split"], r["seed"]) for r in seen) == sorted(
            serial[key].itertuples(index=False, name=None)
        )
    # The deep model, the slowest, is handed out first; rows still keep the serial order.
    jobs = study.jobs(settings)
    assert [jobs[i] for i in study.longest_first(jobs)][:1] == [("deep_stiefel", "random", 1)]
    assert sorted(study.longest_first(jobs)) == list(range(len(jobs)))
    assert (parallel.cpu_s > 0).all()


def test_goals_are_met_only_past_their_thresholds():
    table = pd.DataFrame(
        {
            "split": ["random", "random", "random", "sequential"],
            "model": ["vit_softmax", "vit_favor", "deep_stiefel", "vit_softmax"],
            "accuracy": [0.986, 0.975, 0.79, 0.97],
        }
    )
    goals = study.goals(table).set_index("goal").met
    assert goals["softmax ViT, random 80/20"] and goals["softmax ViT, sequential 50/50"]
    assert not goals["deep no-skip Stiefel, random 80/20"]
    assert not goals["vit_favor within 1 point of softmax, random"]  # 1.1 points behind


def test_the_notebook_s_parameter_defaults_are_the_schema_s():
    """The page's parameter cell is papermill's fallback; the schema owns the defaults."""
    cell = json.loads((REPO / "workflow/notebooks/vision.ipynb").read_text())["cells"][0]
    source = "".join(cell["source"])
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
    }
    defaults = resolve({"studies": {"vision": {"enabled": True}}})["studies"]["vision"]
    shared = set(values) & set(defaults)
    assert {"test_shift", "deep_epochs", "epochs", "shift"} <= shared
    assert {key: values[key] for key in shared} == {key: defaults[key] for key in shared}


def test_benchmark_settings_are_the_defaults_then_base_then_pairs():
    settings = study.settings_with(
        ["lr=0.003", "layer_norms=every", "seeds=[1, 2]"], base={"lr": 1}
    )
    assert settings["lr"] == 0.003  # a pair wins over the base
    assert settings["layer_norms"] == "every" and settings["seeds"] == [1, 2]
    assert settings["epochs"] == study.settings_with([])["epochs"] == 25  # the schema's default
    assert study.settings_with([], base={"epochs": 3})["epochs"] == 3

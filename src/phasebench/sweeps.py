"""Expand a model entry's `grid` or `random` search into named variants (torch-free).

A variant is an ordinary model entry with its own name, e.g. `transformer[depth=2,lr=0.001]`,
so the rest of the pipeline treats it like any other model.
"""

from __future__ import annotations

import itertools
import math
import random

SECTIONS = ("hparams", "training")


def _format(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def variant_name(base: str, swept: dict) -> str:
    return f"{base}[{','.join(f'{key}={_format(value)}' for key, value in swept.items())}]"


def _variant(entry: dict, base: str, choice: dict[tuple[str, str], object], label: dict) -> dict:
    variant = {
        "plugin": entry["plugin"],
        "hparams": dict(entry.get("hparams", {})),
        "training": dict(entry.get("training", {})),
    }
    for (section, key), value in choice.items():
        variant[section][key] = value
    variant["name"] = variant_name(base, label)
    variant["sweep"] = base
    variant["swept"] = {key: value for (_, key), value in choice.items()}
    return variant


def grid_variants(entry: dict, base: str) -> list[dict]:
    """Every combination of the grid's lists, in the order they are written."""
    axes = [
        ((section, key), values)
        for section in SECTIONS
        for key, values in entry["grid"].get(section, {}).items()
    ]
    keys = [key for key, _ in axes]
    variants = []
    for values in itertools.product(*(values for _, values in axes)):
        choice = dict(zip(keys, values, strict=True))
        variants.append(_variant(entry, base, choice, {k: v for (_, k), v in choice.items()}))
    return variants


def _draw(rng: random.Random, distribution, integer: bool):
    if isinstance(distribution, list):
        return rng.choice(distribution)
    low, high = distribution["low"], distribution["high"]
    if distribution.get("log"):
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    # Integer hyperparameters get integers; floats keep three significant digits for names.
    return round(value) if integer else float(f"{value:.3g}")


def random_variants(entry: dict, base: str, draws: int, integer_keys: set[str]) -> list[dict]:
    """`draws` independent draws; the draw number keeps names unique."""
    search = entry["random"]
    rng = random.Random(search.get("seed", 0))
    variants = []
    for draw in range(draws):
        choice = {
            (section, key): _draw(rng, distribution, key in integer_keys)
            for section in SECTIONS
            for key, distribution in search.get(section, {}).items()
        }
        label = {"draw": draw, **{key: value for (_, key), value in choice.items()}}
        variants.append(_variant(entry, base, choice, label))
    return variants

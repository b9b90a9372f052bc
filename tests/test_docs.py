"""docs/formats.md against the files the project writes: its xarray snippet runs on real stores,
and it names every variable, attribute, column and key that the writers produce."""

import csv
import json
import math
import re
import shutil
import warnings

import pytest
import xarray as xr
import yaml

from phasebench.data import EVALUATION_FORMAT, open_store
from phasebench.evaluation import evaluate, write_results
from phasebench.training import train

from conftest import REPO, TINY_TRAINING

FORMATS = (REPO / "docs" / "formats.md").read_text()
SYSTEM, MODEL = "coupled_oscillator", "resnet"


@pytest.fixture(scope="module")
def results(tiny_store, tmp_path_factory):
    """A results/ folder as the pipeline lays it out: data, one trained run, its evaluation."""
    root = tmp_path_factory.mktemp("docs") / "results"
    data = root / "data" / f"{SYSTEM}.zarr"
    shutil.copytree(tiny_store, data)
    run = root / "runs" / SYSTEM / MODEL / "seed0"
    training = {**TINY_TRAINING, "patience": 3}
    summary = train(data, run, MODEL, {"width": 8, "depth": 1}, training, 0, [1])
    settings = {"horizons": [2.0, 8.0], "valid_threshold": 0.1}
    curves, scalars = evaluate(run / "best.ckpt", data, settings, summary, MODEL, run / "budgets")
    prefix = root / "eval" / SYSTEM / MODEL / "seed0"
    write_results(curves, scalars, prefix.with_suffix(".zarr"), prefix.with_suffix(".json"))
    return root


def snippet(section: str) -> str:
    text = FORMATS.split(f"## {section}\n")[1].split("\n## ")[0]
    return re.search(r"```python\n(.*?)```", text, re.S)[1]


def test_the_plain_xarray_snippet_reads_the_stores(results, monkeypatch):
    monkeypatch.chdir(results.parent)
    names = {"print": lambda *args: None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain open must not warn (consolidated metadata)
        exec(snippet("Opening the stores with plain xarray"), names)
    recorded = json.loads((results / "eval" / SYSTEM / MODEL / "seed0.json").read_text())
    assert names["scalars"] == recorded
    assert math.isclose(float(names["test_error"][-1]), recorded["final_error"], rel_tol=1e-6)
    data = open_store(results / "data" / f"{SYSTEM}.zarr")
    assert names["train"].shape == (int((data["split"] == "train").sum()), 31, 4)


def documented(name: str) -> bool:
    return f"`{name}`" in FORMATS


def generic(name: str) -> str:
    """A concrete name as formats.md writes its family: error_t2 → error_t{h}, and so on."""
    name = re.sub(r"error_t[0-9.e+-]+$", "error_t{h}", name)
    return re.sub(r"^max_rel_\w+_error$", "max_rel_<invariant>_error", name)


def undocumented(names) -> list[str]:
    return sorted({generic(n) for n in names if not documented(generic(n))})


def unprefixed(scalars) -> list[str]:
    """Scalar keys without the validation and out-of-distribution split prefixes."""
    return [re.sub(r"^(val|ood)_", "", key) for key in scalars]


def test_formats_names_every_field_of_the_data_and_evaluation_stores(results):
    data = xr.open_zarr(results / "data" / f"{SYSTEM}.zarr")
    assert undocumented([*data.variables, *data.attrs]) == []
    assert documented(data.attrs["format"])
    curves = xr.open_zarr(results / "eval" / SYSTEM / MODEL / "seed0.zarr")
    assert undocumented([*curves.variables, *curves.attrs]) == []
    assert curves.attrs["format"] == EVALUATION_FORMAT and documented(EVALUATION_FORMAT)
    scalars = json.loads(curves.attrs["scalars"])
    assert undocumented(unprefixed(scalars)) == []
    points = scalars["budget_curve"]
    assert undocumented(unprefixed(key for point in points for key in point)) == []


def test_formats_names_every_file_and_field_of_the_run_folder(results):
    run = results / "runs" / SYSTEM / MODEL / "seed0"
    assert undocumented(json.loads((run / "train.json").read_text())) == []
    with (run / "metrics.csv").open() as f:
        assert undocumented(next(csv.reader(f))) == []
    budgets = json.loads((run / "budgets" / "budgets.json").read_text())
    assert budgets and undocumented(key for entry in budgets for key in entry) == []
    assert undocumented(yaml.safe_load((run / "hparams.yaml").read_text())) == []
    for name in sorted(p.name for p in run.iterdir()):
        assert documented(name) or documented(f"{name}/"), name

"""Zarr data stores: schema, round trip, provenance, and clear errors for bad stores."""

import json
import re
import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

from phasebench.data import load_split, open_store, write_store
from phasebench.errors import DataError
from phasebench.simulation import simulate
from phasebench.system import build_system

from conftest import REPO, TINY_SYSTEM, TINY_TRAINING, phasebench_cli


def test_store_has_the_documented_schema(tiny_store):
    ds = open_store(tiny_store)
    assert ds["state"].dims == ("trajectory", "time", "dof")
    assert ds["state"].dtype == np.float32
    assert ds["energy"].dims == ("trajectory", "time")
    assert ds["seed"].dims == ("trajectory",)
    assert list(ds["dof"].values) == ["q1", "q2", "p1", "p2"]
    assert list(ds["split"].values).count("test_ood") == 3  # ood_fraction 0.25 of 12
    assert set(ds["split"].values) == {"train", "val", "test", "test_ood"}
    assert ds["time"].attrs["units"]
    for key in (
        "system",
        "parameters",
        "integrator",
        "dt",
        "substeps",
        "phasebench_version",
        "git_commit",
        "config_hash",
        "created",
    ):
        assert key in ds.attrs, key
    assert ds.attrs["system"] == "coupled_oscillator"
    assert ds.attrs["integrator"] == "yoshida4" and ds.attrs["dt"] == 0.4
    assert ds.attrs["validation"] == "passed" and ds.attrs["max_rel_energy_error"] < 1e-3
    assert json.loads(ds.attrs["parameters"])["k"] == 1.0
    # Chunks hold whole trajectories.
    assert ds["state"].encoding["chunks"][1:] == (31, 4)


def test_round_trip_keeps_every_value(tmp_path):
    system = build_system("coupled_oscillator")
    ds = simulate(system, {**TINY_SYSTEM, "dtype": "float64"})
    write_store(ds, tmp_path / "a.zarr")
    back = open_store(tmp_path / "a.zarr").load()
    xr.testing.assert_identical(back.drop_encoding(), ds.drop_encoding())
    assert not (tmp_path / "a.zarr.partial").exists()


def test_energy_column_matches_the_states(tiny_store):
    ds = open_store(tiny_store)
    system = build_system("coupled_oscillator")
    np.testing.assert_allclose(
        system.hamiltonian(ds["state"].values.astype(np.float64)), ds["energy"].values, rtol=1e-5
    )


def test_same_seed_same_data_and_trajectories_are_independently_reproducible():
    system = build_system("coupled_oscillator")
    a = simulate(system, TINY_SYSTEM)
    b = simulate(system, {**TINY_SYSTEM, "n_trajectories": 20})
    in_distribution = (a["split"] != "test_ood").values
    np.testing.assert_array_equal(a["state"].values[in_distribution], b["state"].values[:12])
    x0 = system.sample_initial(np.random.default_rng(int(a["seed"][5])), 1)
    np.testing.assert_allclose(a["state"].values[5, 0], x0[0], rtol=1e-6)


def test_load_split_returns_only_that_split(tiny_store):
    ds = open_store(tiny_store)
    train = load_split(ds, "train")
    assert train.shape == ((ds["split"] == "train").sum().item(), 31, 4)
    with pytest.raises(DataError, match="my.zarr: has no trajectories in split 'nothing'"):
        load_split(ds, "nothing", "my.zarr")


def test_missing_store_is_named(tmp_path):
    with pytest.raises(DataError, match=rf"^{tmp_path}/nothing.zarr: no such data store"):
        open_store(tmp_path / "nothing.zarr")


def test_foreign_store_is_named(tmp_path):
    xr.Dataset({"a": ("x", [1, 2])}).to_zarr(tmp_path / "f.zarr", zarr_format=3, consolidated=False)
    with pytest.raises(DataError, match=r"f.zarr: not a phasebench-trajectories/1 store"):
        open_store(tmp_path / "f.zarr")


def test_truncated_store_is_named(tiny_store, tmp_path):
    copy = tmp_path / "t.zarr"
    shutil.copytree(tiny_store, copy)
    shutil.rmtree(copy / "state")
    with pytest.raises(DataError, match=r"t.zarr: "):
        open_store(copy)


def test_non_zarr_folder_is_named(tmp_path):
    (tmp_path / "junk.zarr").mkdir()
    (tmp_path / "junk.zarr" / "zarr.json").write_text("{not json")
    with pytest.raises(DataError, match=r"junk.zarr: not a readable Zarr store"):
        open_store(tmp_path / "junk.zarr")


def readme_snippet(section: str) -> str:
    text = (REPO / "README.md").read_text().split(f"## {section}\n")[1].split("\n## ")[0]
    return re.search(r"```python\n(.*?)```", text, re.S)[1]


def test_plain_xarray_opens_a_store_as_the_readme_shows(tiny_store, tmp_path):
    store = tmp_path / "pendulum.zarr"
    shutil.copytree(tiny_store, store)
    (store / ".snakemake_timestamp").write_text("")  # Snakemake marks directory outputs so
    snippet = readme_snippet("Data format").replace("results/data/pendulum.zarr", str(store))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither consolidation nor the timestamp file may warn
        exec(snippet, {"print": lambda *args: None})
        ds = xr.open_zarr(store)
    for name in ["state", "time", *json.loads(ds.attrs["invariants"])]:
        assert ds[name].attrs["long_name"] and ds[name].attrs["units"], name


def test_plain_xarray_opens_an_evaluation_store_with_described_curves(tiny_store, tmp_path):
    from phasebench.evaluation import evaluate_integrator, write_results

    result, scalars = evaluate_integrator(
        tiny_store, "rk4", {"horizons": [1.0], "valid_threshold": 1}
    )
    store = tmp_path / "rk4.zarr"
    write_results(result, scalars, store, tmp_path / "rk4.json")
    (store / ".snakemake_timestamp").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(store)
    # Before: only `time` said what it holds.
    for name in ("rel_error", "energy_error", "state_pred", "time"):
        assert ds[name].attrs["long_name"] and ds[name].attrs["units"], name


def corrupt_chunk(store):
    chunk = next(p for p in (store / "state" / "c").rglob("*") if p.is_file())
    data = bytearray(chunk.read_bytes())
    data[8:40] = b"x" * 32
    chunk.write_bytes(bytes(data))


def drop_dt(store):
    meta = json.loads((store / "zarr.json").read_text())
    del meta["attributes"]["dt"]
    (store / "zarr.json").write_text(json.dumps(meta))


TRAIN = {"plugin": "resnet", "hparams": {}, "training": TINY_TRAINING, "seed": 0, "budgets": []}
JOBS = {
    "data check": lambda store, out: ["data", "check", str(store)],
    "train": lambda store, out: [
        "train", "--settings", json.dumps(TRAIN), "--data", str(store), "--out", str(out),
    ],
    "evaluate-integrator": lambda store, out: [
        "evaluate-integrator", "--settings", json.dumps({"horizons": [1.0], "valid_threshold": 1}),
        "--integrator", "rk4", "--data", str(store), "--out-zarr", str(out / "e.zarr"),
        "--out-json", str(out / "e.json"),
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (corrupt_chunk, "a chunk of 'state' cannot be decoded"),
        (drop_dt, "missing attribute(s) 'dt'"),
    ],
)
# The train job starts a training process (seconds): slow lane.
@pytest.mark.parametrize(
    "job", [pytest.param(job, marks=pytest.mark.slow) if job == "train" else job for job in JOBS]
)
def test_damaged_store_is_one_sentence_in_data_check_and_the_jobs(
    tiny_store, tmp_path, damage, what, job
):
    store = tmp_path / "damaged.zarr"
    shutil.copytree(tiny_store, store)
    damage(store)
    result = phasebench_cli(*JOBS[job](store, tmp_path / "out"))
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("phasebench:")]
    assert len(errors) == 1 and errors[0].startswith(f"phasebench: {store}: damaged store, {what}")
    assert errors[0].endswith(
        f"; remove it (rm -r {store}) and run snakemake again to regenerate it"
    )


def test_damaged_json_attribute_is_one_sentence_in_data_check(tiny_store, tmp_path):
    store = tmp_path / "damaged.zarr"
    shutil.copytree(tiny_store, store)
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"]["parameters"] = '{"k": 1.0'  # cut short (was: a JSONDecodeError traceback)
    (store / "zarr.json").write_text(json.dumps(meta))
    result = phasebench_cli("data", "check", str(store))
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        f"phasebench: {store}: damaged store, attribute 'parameters' is not JSON; "
        f"remove it (rm -r {store}) and run snakemake again to regenerate it"
    )


def test_a_corrupt_chunk_of_an_evaluation_store_is_named_in_the_report(tiny_store, tmp_path):
    # Before: the report's notebook died with a numcodecs RuntimeError traceback.
    from phasebench.evaluation import evaluate_integrator, write_results
    from phasebench.reporting import curve_sources, load_curves

    settings = {"horizons": [1.0], "valid_threshold": 1.0}
    result, scalars = evaluate_integrator(tiny_store, "rk4", settings)
    store = tmp_path / "rk4.zarr"
    write_results(result, scalars, store, store.with_suffix(".json"))
    chunk = next(p for p in (store / "rel_error" / "c").rglob("*") if p.is_file())
    chunk.write_bytes(chunk.read_bytes()[:8] + b"x" * 32 + chunk.read_bytes()[40:])
    with pytest.raises(DataError) as err:
        numerical = [{"integrator": "rk4", "curves": store}]
        load_curves(curve_sources([], [], numerical), "rel_error")
    assert str(err.value).startswith(
        f"{store}: damaged store, a chunk of 'rel_error' cannot be decoded"
    )
    assert str(err.value).endswith(
        f"; remove it (rm -r {store}) and run snakemake again to regenerate it"
    )


def test_simulate_takes_every_setting_from_the_plan():
    # Before: a missing ood_fraction meant 0 here and 0.15 in the schema, reference_trajectories
    # 0 here and 4 there; now the plan is the one place that fills them.
    partial = {k: v for k, v in TINY_SYSTEM.items() if k not in ("ood_fraction", "burn_in")}
    with pytest.raises(DataError) as err:
        simulate(build_system("coupled_oscillator"), partial)
    assert str(err.value) == (
        "simulate settings of coupled_oscillator lack burn_in, ood_fraction; pass the plan's "
        "(phasebench.config.simulate_settings of a resolved system)"
    )

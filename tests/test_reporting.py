"""Report plots: one colour and line style per model, the same in every plot of a report; the
reports' imports stay free of torch."""

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from phasebench import reporting  # noqa: E402

from conftest import REPO  # noqa: E402

# The default experiment's 16 models and their families (10-colour cycles repeat among them).
FAMILIES = {
    "g_sympnet": "sympnet", "la_sympnet": "sympnet", "hnn": "hamiltonian", "vpff": "volume",
    "vpt": "volume", "gru": "recurrent", "lstm": "recurrent", "mlp": "feed-forward",
    "resnet": "feed-forward", "macaron": "transformer", "performer_exp": "transformer",
    "performer_favor": "transformer", "performer_learned": "transformer",
    "performer_relu": "transformer", "transformer": "transformer",
    "transformer_stiefel": "transformer",
}  # fmt: skip
MODELS = sorted(FAMILIES)


def curves(models) -> dict[str, xr.DataArray]:
    time = np.linspace(0.1, 10, 20)
    return {
        model: xr.DataArray(
            np.exp(np.outer([1.0, 1.1], time / (i + 1))),
            dims=("seed", "time"),
            coords={"time": time},
        )
        for i, model in enumerate(models)
    }


def drawn(fig) -> dict[str, tuple]:
    """(colour, line style) of every labelled line of a figure, by label."""
    return {
        line.get_label(): (mcolors.to_hex(line.get_color()), line.get_linestyle())
        for ax in fig.axes
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }


def expected(styles, model) -> tuple:
    return mcolors.to_hex(styles[model]["color"]), styles[model]["linestyle"]


def test_the_report_notebooks_import_no_torch():
    """A report job is a kernel start and its imports: torch would add seconds to every report."""
    lines = []
    for name in ("system_report", "overview"):
        cells = json.loads((REPO / f"workflow/notebooks/{name}.ipynb").read_text())["cells"]
        lines += [
            line
            for cell in cells
            if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines()
            if line.startswith(("import ", "from "))
        ]
    assert any("reporting" in line for line in lines)
    code = "\n".join([*lines, "import sys; print('torch' in sys.modules)"])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("n", [16, 40, 72])
def test_model_styles_are_distinct_and_not_the_references_grey(n):
    styles = reporting.model_styles([f"model_{i:02d}" for i in range(n)])
    pairs = {expected(styles, m) for m in styles}
    assert len(pairs) == n
    greys = {mcolors.to_hex(c) for c in ("0.4", "#7f7f7f", "#c7c7c7")}
    assert not any(colour in greys for colour, _ in pairs)


def test_model_styles_depend_on_the_model_list_only():
    shuffled = list(reversed(MODELS))
    assert reporting.model_styles(shuffled) == reporting.model_styles(MODELS)


def test_every_plot_draws_a_model_in_its_one_style():
    styles = reporting.model_styles(MODELS)
    # A plot that shows only some models keeps each model's style.
    shown = MODELS[::2]
    lines = drawn(reporting.plot_curves(curves(shown), "error", "t", styles))
    assert set(lines) == set(shown)
    assert all(lines[m] == expected(styles, m) for m in shown)
    budgets = pd.DataFrame(
        [
            {"model": m, "seed": 0, "point": p, "step": 10 * (p + 1), "wall_s": p + 1.0,
             "val_error_t10": 1.0 / (p + 1)}
            for m in MODELS
            for p in range(3)
        ]
    )  # fmt: skip
    budget_lines = drawn(reporting.plot_budget_curves(budgets, "val_error_t10", styles))
    assert all(budget_lines[m] == expected(styles, m) for m in MODELS)
    all_lines = drawn(reporting.plot_curves(curves(MODELS), "error", "t", styles))
    assert len(set(all_lines.values())) == len(MODELS)  # 16 models, 16 looks


def test_many_models_are_drawn_family_by_family():
    styles = reporting.model_styles(MODELS)
    reference = {"numerical: rk4": curves(["x"])["x"]}
    fig = reporting.plot_curves(curves(MODELS) | reference, "error", "t", styles, FAMILIES)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert sorted(ax.get_title() for ax in panels) == sorted(set(FAMILIES.values()))
    for ax in panels:
        labels = {line.get_label() for line in ax.get_lines()}
        family = {m for m, f in FAMILIES.items() if f == ax.get_title()}
        assert labels == family | {"numerical: rk4"}  # the reference in every panel

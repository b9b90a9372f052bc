"""The source files each job runs, as the rules list them: a static import scan."""

from pathlib import Path

from phasebench.sources import LIBRARY, Sources

from conftest import REPO

SOURCES = Sources(REPO)


def library_files(*starts) -> set[str]:
    return {str(p.relative_to(LIBRARY)) for p in map(Path, SOURCES.of(*starts))}


def test_a_model_depends_on_the_layers_it_is_built_from_and_no_others():
    transformer = library_files(REPO / "plugins/models/transformer.py")
    assert {"layers/transformer.py", "layers/feedforward.py", "layers/attention.py"} <= transformer
    assert "layers/sympnet.py" not in transformer and "layers/hamiltonian.py" not in transformer
    assert library_files(REPO / "plugins/models/hnn.py") == {"__init__.py", "layers/hamiltonian.py"}
    # resnet is plain torch: only the package's lazy public names
    assert library_files(REPO / "plugins/models/resnet.py") == {"__init__.py"}


def test_the_trainer_runs_its_own_modules_but_not_the_config_validation():
    trainer = library_files("phasebench.training")
    assert {"training.py", "model.py", "data.py", "losses.py"} <= trainer
    assert "layers/feature_major.py" in trainer  # the fast path's switch
    assert trainer.isdisjoint({"config.py", "cli.py", "reporting/__init__.py", "evaluation.py"})
    # Reading a store is not making one: editing the simulation does not retrain every model.
    assert trainer.isdisjoint({"simulation.py", "validation.py", "integrators.py", "splits.py"})
    simulate = library_files("phasebench.simulation")
    assert {"simulation.py", "validation.py", "data.py", "integrators.py"} <= simulate


def test_a_plugin_file_is_left_out_of_its_own_code_and_notebooks_count_by_their_cells():
    plugin = REPO / "plugins/models/vpff.py"
    assert str(plugin) not in SOURCES.of(plugin)
    report = library_files(REPO / "workflow/notebooks/overview.ipynb")
    reporting = {f"reporting/{m}.py" for m in ("__init__", "loading", "tables", "plots")}
    assert reporting | {"provenance.py", "registry.py", "data.py"} <= report
    assert "evaluation.py" not in report  # the reports read its stores, not its torch code

"""The `phasebench` command: plugin tools, and the steps that the Snakemake rules run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from phasebench.errors import PhasebenchError


def _plugins_list(args) -> int:
    from phasebench import registry

    root = registry.working_root()
    print(f"plugins of {root / 'plugins'} (and installed entry points)")
    for kind in ("systems", "models"):
        plugins, problems = registry.discover(kind, root)
        print(f"{kind}:")
        for name, info in sorted(plugins.items()):
            detail = info.attrs.get("family", "canonical" if info.attrs.get("canonical") else "")
            print(f"  {name:<24} {detail:<20} {info.where}")
        for problem in problems:
            print(f"  BROKEN {problem}")
    return 0


def _plugins_new(args) -> int:
    from phasebench.registry import working_root
    from phasebench.scaffold import new_plugin

    path = new_plugin(f"{args.kind}s", args.name, working_root())
    print(f"wrote {path}; edit it, then run: phasebench plugins check")
    return 0


def _plugins_check(args) -> int:
    from phasebench import registry
    from phasebench.plugin_check import check_all

    root = registry.working_root()
    print(f"checking {root / 'plugins'} (and installed entry points)")
    failed = 0
    for kind, name, problem, detail in check_all(root):
        print(
            f"{'FAIL' if problem else 'ok  '} {kind[:-1]:<6} {name}"
            + (f": {problem}" if problem else f" ({detail})" if detail else "")
        )
        failed += problem is not None
    print(f"{failed} broken plugin(s)" if failed else "all plugins ok")
    return 1 if failed else 0


def _simulate(args) -> int:
    from phasebench.data import write_store
    from phasebench.particle_ood import simulate_store
    from phasebench.system import build_system

    settings = json.loads(args.settings)
    system = build_system(settings["name"], settings["params"])
    ds, groups = simulate_store(system, settings)
    write_store(ds, Path(args.out), groups)
    print(
        f"{args.out}: {ds.sizes['trajectory']} trajectories × {ds.sizes['time']} steps, "
        f"max relative energy error {ds.attrs['max_rel_energy_error']:.2e}"
    )
    return 0


def _train(args) -> int:
    from phasebench.errors import PluginError
    from phasebench.registry import plugin_class
    from phasebench.run_folder import RunFolder, die_with_parent

    settings = json.loads(args.settings)
    try:
        # A plugin that cannot be imported is recorded before Lightning is imported (the
        # slowest part of a train job's start); one that fails to build or train, by `train`.
        plugin_class("models", settings["plugin"])
    except PluginError as err:
        RunFolder(Path(args.out)).record_failure(
            settings["plugin"], settings["hparams"], settings["seed"], err
        )
        print(f"{args.out}: training failed, recorded ({err})")
        return 0
    from phasebench.training import train

    if args.threads is not None:
        settings["training"]["threads"] = args.threads
    if args.die_with_parent:
        die_with_parent()
    summary = train(
        Path(args.data),
        Path(args.out),
        settings["plugin"],
        settings["hparams"],
        settings["training"],
        settings["seed"],
        settings["budgets"],
    )
    print(
        f"{args.out}: {summary['epochs']} epochs in {summary['wall_time_s']:.1f} s, "
        f"best val_loss {summary['best_val_loss']}, status {summary['status']}"
    )
    return 0


def _evaluate(args) -> int:
    from phasebench.evaluation import evaluate, failed_evaluation, write_results

    summary = json.loads(Path(args.train_json).read_text())
    if summary["status"] == "failed":  # nothing to roll out; the reports list the reason
        result, scalars = failed_evaluation(Path(args.data), summary, args.model)
        write_results(result, scalars, Path(args.out_zarr), Path(args.out_json))
        print(f"{args.out_json}: training failed, recorded ({summary['failure']})")
        return 0
    result, scalars = evaluate(
        Path(args.checkpoint),
        Path(args.data),
        json.loads(args.settings),
        summary,
        args.model,
        Path(args.budgets) if args.budgets else None,
    )
    write_results(result, scalars, Path(args.out_zarr), Path(args.out_json))
    print(
        f"{args.out_json}: final error {scalars['final_error']}, valid time {scalars['valid_time']}"
    )
    return 0


def _evaluate_integrator(args) -> int:
    from phasebench.evaluation import evaluate_integrator, write_results

    settings = json.loads(args.settings)
    result, scalars = evaluate_integrator(Path(args.data), args.integrator, settings)
    write_results(result, scalars, Path(args.out_zarr), Path(args.out_json))
    print(f"{args.out_json}: final error {scalars['final_error']}")
    return 0


def _check_runs(args) -> int:
    from phasebench.run_folder import failed_runs, failure_message

    failed = failed_runs(args.summaries)
    if failed:
        raise PhasebenchError(failure_message(failed, len(args.summaries)))
    Path(args.out).write_text(f"all {len(args.summaries)} training runs completed\n")
    return 0


def _data_show(args) -> int:
    from phasebench.datatools import summary

    print(summary(Path(args.path)))
    return 0


def _data_check(args) -> int:
    import shutil

    from phasebench.data import rebuild_hint
    from phasebench.datatools import check
    from phasebench.errors import DataError

    try:
        problems = check(Path(args.path))
    except DataError as err:
        if not (args.fix and Path(args.path).is_dir()):
            raise
        problems = [str(err)]  # unreadable: --fix removes it all the same
    for problem in problems:
        print(f"FAIL {args.path}: {problem}")
    if not problems:
        print(f"{args.path}: ok")
        return 0
    if args.fix:
        shutil.rmtree(args.path)
        print(
            f"{args.path}: broken, removed; run snakemake again to regenerate it (the runs "
            "trained on it are run again too)"
        )
        return 0
    print(f"{args.path}: broken; {rebuild_hint(args.path)} (or: phasebench data check --fix)")
    return 1


EVALUATE_FILES = {
    "checkpoint": "the run's best.ckpt",
    "train-json": "the run's train.json",
    "data": "the system's Zarr store",
    "out-zarr": "where to write the error curves (Zarr)",
    "out-json": "where to write the scalars (JSON)",
}


def parser() -> argparse.ArgumentParser:
    from phasebench import __version__

    top = argparse.ArgumentParser(prog="phasebench", description=__doc__)
    top.add_argument("--version", action="version", version=f"phasebench {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    # The plugin commands use the checkout they run in (see registry.working_root).
    plugins = sub.add_parser("plugins", help="list, check or create plugins of this checkout")
    plugin_sub = plugins.add_subparsers(dest="action", required=True)
    plugin_sub.add_parser("list", help="every plugin, where it comes from").set_defaults(
        run=_plugins_list
    )
    plugin_sub.add_parser("check", help="import and validate every plugin").set_defaults(
        run=_plugins_check
    )
    new = plugin_sub.add_parser(
        "new", help="write a new plugin module from the template, ready for plugins check"
    )
    new.add_argument("kind", choices=["model", "system"], help="what the plugin is")
    new.add_argument("name", help="its name, also the module: plugins/<kind>s/<name>.py")
    new.set_defaults(run=_plugins_new)

    data = sub.add_parser("data", help="summarise or re-validate a data store")
    data_sub = data.add_subparsers(dest="action", required=True)
    show = data_sub.add_parser("show", help="system, parameters, sizes, splits, invariant errors")
    show.add_argument("path", help="a data store, e.g. results/data/pendulum.zarr")
    show.set_defaults(run=_data_show)
    chk = data_sub.add_parser("check", help="re-validate a store; non-zero exit if broken")
    chk.add_argument("path", help="a data store, e.g. results/data/pendulum.zarr")
    chk.add_argument(
        "--fix", action="store_true", help="remove a broken store, for snakemake to regenerate"
    )
    chk.set_defaults(run=_data_check)

    sim = sub.add_parser("simulate", help="simulate a system into a Zarr store (simulate rule)")
    sim.add_argument("--settings", required=True, help="JSON: the resolved system entry")
    sim.add_argument("--out", required=True, help="the Zarr store to write")
    sim.set_defaults(run=_simulate)

    train = sub.add_parser("train", help="train one model on one system (train rule)")
    train.add_argument("--settings", required=True, help="JSON: plugin, hparams, training, seed")
    train.add_argument("--data", required=True, help="the system's Zarr store")
    train.add_argument("--out", required=True, help="run folder")
    train.add_argument(
        "--threads",
        type=int,
        help="CPU threads, instead of the settings' training.threads (the train rule passes "
        "the threads Snakemake gave the job)",
    )
    train.add_argument(
        "--die-with-parent",
        action="store_true",
        help="stop when the calling shell dies (the train rule: a killed job leaves no trainer)",
    )
    train.set_defaults(run=_train)

    ev = sub.add_parser("evaluate", help="roll out a trained model on the test split")
    ev.add_argument("--settings", required=True, help="JSON: the evaluation settings")
    ev.add_argument("--model", required=True, help="model name (variant) for the report")
    for name, what in EVALUATE_FILES.items():
        ev.add_argument(f"--{name}", required=True, help=what)
    ev.add_argument("--budgets", help="the run's budgets/ folder: score its budget checkpoints")
    ev.set_defaults(run=_evaluate)

    num = sub.add_parser(
        "evaluate-integrator", help="score a system's integrator at the data's step (reference)"
    )
    num.add_argument("--settings", required=True, help="JSON: the evaluation settings")
    num.add_argument("--integrator", required=True, help="e.g. yoshida4, rk4")
    for name in ("data", "out-zarr", "out-json"):
        num.add_argument(f"--{name}", required=True, help=EVALUATE_FILES[name])
    num.set_defaults(run=_evaluate_integrator)

    check = sub.add_parser(
        "check-runs",
        help="fail, naming them, if any training run failed (the workflow's last rule)",
    )
    check.add_argument("summaries", nargs="+", help="the runs' train.json files")
    check.add_argument("--out", required=True, help="written only when every run completed")
    check.set_defaults(run=_check_runs)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except PhasebenchError as err:
        print(f"phasebench: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

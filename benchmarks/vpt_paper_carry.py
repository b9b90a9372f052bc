"""Carry a run of configs/vpt-paper-schedule.yaml from one working copy to another.

The paper's 500 000 steps take about 8 h of one core for `vpt` on the development CPU, longer
than a working session whose files are not kept, so the unfinished runs travel in the
repository: `save` copies each run's resumable state (or, once finished, its outputs) into
`benchmarks/results/vpt_paper_schedule/`, and `restore` puts them back, after which the
pipeline resumes each run where it stopped:

    python benchmarks/vpt_paper_carry.py save RESULTS      # RESULTS: the run's results/ folder
    snakemake --cores 3 --configfile configs/vpt-paper-schedule.yaml -- results/data/rigid_body.zarr
    python benchmarks/vpt_paper_carry.py restore results   # after the data, so outputs are newer
    snakemake --cores 3 --configfile configs/vpt-paper-schedule.yaml

A run resumes only if its settings and plugin source are unchanged (`progress/fingerprint.json`);
otherwise it starts afresh and says so.
"""

import argparse
import lzma
import shutil
from pathlib import Path

CARRIED = Path(__file__).parent / "results" / "vpt_paper_schedule"
SYSTEM = "rigid_body"
SEED = "seed0"
# A run in progress: its weights, optimiser state and epoch rows, and what it was trained with.
PROGRESS_FILES = ("resume.ckpt", "best.ckpt", "fingerprint.json", "budgets")
# A finished run: its declared outputs.
FINISHED_FILES = ("best.ckpt", "metrics.csv", "hparams.yaml", "train.json", "budgets")
# Compressed in the repository: the checkpoints' epoch rows shrink sevenfold, and a finished
# run's 83 334-row metrics.csv (8 MB) too.
PACKED = (".ckpt", ".csv")


def copy(names, source: Path, target: Path, packing: str = "") -> list[str]:
    """Copy the named files and folders that exist; `packing` "xz" compresses the `PACKED`
    kinds on the way, "unxz" restores them."""
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in names:
        packed = source / f"{name}.xz"
        if (source / name).is_dir():
            copied += [
                f"{name}/{n}"
                for n in copy(listing(source / name), source / name, target / name, packing)
            ]
        elif packing == "xz" and name.endswith(PACKED) and (source / name).exists():
            (target / f"{name}.xz").write_bytes(lzma.compress((source / name).read_bytes()))
            copied.append(name)
        elif packing == "unxz" and packed.exists():
            (target / name).write_bytes(lzma.decompress(packed.read_bytes()))
            copied.append(name)
        elif (source / name).exists():
            # A fresh modification time: Snakemake reruns a job whose outputs are older than
            # its inputs, and the data store is made just before a restore.
            shutil.copyfile(source / name, target / name)
            copied.append(name)
    return copied


def listing(folder: Path) -> list[str]:
    """The files of a folder by their unpacked names."""
    return sorted(p.name.removesuffix(".xz") for p in folder.iterdir())


def save(results: Path) -> None:
    for run in sorted((results / "runs" / SYSTEM).glob(f"*/{SEED}")):
        model = run.parent.name
        shutil.rmtree(CARRIED / model, ignore_errors=True)
        if (run / "train.json").exists():
            copied = copy(FINISHED_FILES, run, CARRIED / model / "finished", "xz")
        else:
            copied = copy(PROGRESS_FILES, run / "progress", CARRIED / model / "progress", "xz")
        print(f"{model}: {', '.join(copied)}")


def restore(results: Path) -> None:
    for carried in sorted(CARRIED.iterdir()):
        run = results / "runs" / SYSTEM / carried.name / SEED
        for kind, names in (("finished", FINISHED_FILES), ("progress", PROGRESS_FILES)):
            if (carried / kind).exists():
                target = run if kind == "finished" else run / "progress"
                copied = copy(names, carried / kind, target, "unxz")
                print(f"{carried.name} ({kind}): {', '.join(copied)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("save", "restore"))
    parser.add_argument("results", type=Path, help="the run's results/ folder")
    args = parser.parse_args()
    (save if args.action == "save" else restore)(args.results)


if __name__ == "__main__":
    main()

"""The recorded commit says `+dirty` whenever the code that ran exists in no commit."""

import subprocess

from phasebench.provenance import git_commit


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_an_uncommitted_plugin_marks_the_commit_dirty(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "plugins" / "models").mkdir(parents=True)
    (tmp_path / "plugins" / "models" / "mlp.py").write_text("# a committed plugin\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "plugins")
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")

    (tmp_path / "notes.txt").write_text("a scratch file outside the code folders\n")
    assert git_commit(tmp_path) == clean

    (tmp_path / "plugins" / "models" / "new_model.py").write_text("# in no commit\n")
    assert git_commit(tmp_path) == clean + "+dirty"


def test_an_edited_tracked_file_marks_the_commit_dirty(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "config.yaml").write_text("seeds: [0]\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "config")
    (tmp_path / "config.yaml").write_text("seeds: [1]\n")
    assert git_commit(tmp_path).endswith("+dirty")


def test_outside_git_the_commit_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"

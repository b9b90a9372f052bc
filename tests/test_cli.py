"""The `phasebench` command's own surface: its version and a help text for every option."""

import argparse

from phasebench import __version__
from phasebench.cli import parser

from conftest import phasebench_cli


def test_version():
    result = phasebench_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"phasebench {__version__}"


def options(command: argparse.ArgumentParser, path: str = "phasebench"):
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_option_and_argument_has_a_help_text():
    missing = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, action in options(parser())
        if not action.help
    ]
    assert missing == []

"""`python -m harness CMD` builds only CMD's parser: a world starts its origin and edge as
`python -m harness origin|edge`, and importing every command's module there cost ~1 s of CPU
per process (~30 s in a TCG VM). The lazy parser must be the full one for that command."""

import subprocess
import sys

import pytest

from harness.__main__ import SUBCOMMANDS, build_parser


def _subparsers(parser):
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def test_every_command_is_registered_once_in_the_table():
    full = _subparsers(build_parser())
    names = [n for _, _, ns in SUBCOMMANDS for n in ns]
    assert sorted(full) == sorted(names) and len(set(names)) == len(names)


@pytest.mark.parametrize("command", [n for _, _, ns in SUBCOMMANDS for n in ns])
def test_a_command_alone_parses_like_the_full_parser(command):
    alone = _subparsers(build_parser(command))
    assert command in alone
    assert alone[command].format_help() == _subparsers(build_parser())[command].format_help()


def test_origin_and_edge_do_not_import_the_other_commands():
    code = ("import sys; from harness.__main__ import build_parser; build_parser(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m in ('harness.mitigations', 'harness.cli_run', "
            "'harness.fit.cli', 'harness.workload', 'harness.labfield', 'harness.fidelity.cli', 'trustme')))")
    for command in ("origin", "edge"):
        out = subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]", (command, out.stdout, out.stderr)

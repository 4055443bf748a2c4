"""resetlab command line: ``python -m harness <command> ...``.

Commands (argparse subparsers; each lives next to its code and registers itself here):
    origin    run the mock Messages API origin (harness/origin/cli.py)
    edge      run an edge proxy (built-in, nginx, haproxy) from an EdgePolicy (harness/edge/cli.py)
    client    run one probe with a client (raw, python-sdk, node-sdk, claude-code)
    run       the falsification engine on built-in worlds -> results/<run-id>/ (harness/cli_run.py)
    report    re-render a results folder
    probe     the engine's client-side probes against an external base URL (opt-in, cost-capped)
    mitigate  sessions of turns under mitigations on built-in worlds (harness/mitigations.py)
    workload  real Claude Code through a growing session in a world; fieldlog tables of its JSONL
              (harness/workload.py)
    lab-vs-field  Claude Code sessions in each world vs the field report's signature (harness/labfield.py)
    fit       search a family of mixed worlds for the field report's tables (harness/fit/cli.py)
    fidelity  the client fidelity matrix: each client's label vs the wire's (harness/fidelity/)
"""

from __future__ import annotations

import argparse
import sys

# (module, its registration function, the commands it registers), in --help's order
SUBCOMMANDS = (
    ("harness.origin.cli", "add_parser", ("origin",)),
    ("harness.edge.cli", "add_parser", ("edge",)),
    ("harness.clients.cli", "add_parser", ("client",)),
    ("harness.cli_run", "add_parsers", ("run", "report", "probe")),
    ("harness.fieldlog.cli", "add_parser", ("fieldlog",)),
    ("harness.mitigations", "add_parser", ("mitigate",)),
    ("harness.workload", "add_parser", ("workload",)),
    ("harness.labfield", "add_parser", ("lab-vs-field",)),
    ("harness.fit.cli", "add_parser", ("fit",)),
    ("harness.fidelity.cli", "add_parser", ("fidelity",)),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser, or only the one that registers `command`: a world starts an
    origin and an edge as `python -m harness origin|edge ...`, and importing every command's
    module for them cost ~1 s of CPU per process here and ~30 s in a TCG VM (netem vm)."""
    import importlib

    from netem.errors import OneLineParser

    parser = OneLineParser(prog="python -m harness", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    known = [name for _, _, names in SUBCOMMANDS for name in names]
    for module, register, names in SUBCOMMANDS:
        if command in known and command not in names:
            continue
        getattr(importlib.import_module(module), register)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from harness.interrupts import Signals
    from harness.origin.validate import SpecError
    from netem.errors import ConfigError

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    with Signals() as args.signals:  # Ctrl-C / SIGTERM: exit 130 / 143, a 2nd one cannot cut cleanup
        try:
            return args.func(args)
        except (ConfigError, SpecError) as e:  # bad input found past argument parsing: one line
            print(f"resetlab: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            args.signals.hold()
            print(f"resetlab: interrupted ({args.signals.name}); what it held is released", file=sys.stderr)
            return args.signals.exit_status


if __name__ == "__main__":
    sys.exit(main())

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


def build_parser() -> argparse.ArgumentParser:
    from netem.errors import OneLineParser

    parser = OneLineParser(prog="python -m harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    from harness.origin import cli as origin_cli

    origin_cli.add_parser(sub)
    from harness.edge import cli as edge_cli

    edge_cli.add_parser(sub)
    from harness.clients import cli as client_cli

    client_cli.add_parser(sub)
    from harness import cli_run

    cli_run.add_parsers(sub)
    from harness.fieldlog import cli as fieldlog_cli

    fieldlog_cli.add_parser(sub)
    from harness import mitigations

    mitigations.add_parser(sub)
    from harness import workload

    workload.add_parser(sub)
    from harness import labfield

    labfield.add_parser(sub)
    from harness.fit import cli as fit_cli

    fit_cli.add_parser(sub)
    from harness.fidelity import cli as fidelity_cli

    fidelity_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from harness.interrupts import Signals
    from harness.origin.validate import SpecError
    from netem.errors import ConfigError

    args = build_parser().parse_args(argv)
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

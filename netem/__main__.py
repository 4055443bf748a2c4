"""python -m netem {cleanup [--dry-run] [--all] | bench [--json] | backends [--json] | vm -- CMD...}"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import ConfigError, OneLineParser


def cmd_cleanup(args: argparse.Namespace) -> int:
    from .registry import find_leftovers, sweep

    left = find_leftovers(include_live=args.all)
    for line in left.lines():
        print(("would remove " if args.dry_run else "removing ") + line)
    if not args.dry_run:
        sweep(left)
    if left.empty():
        print("nothing to clean up")
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    import os

    from .shaping import kernel_netem_missing, resolve_backend

    missing = kernel_netem_missing()
    info = {"kernel": os.uname().release, "userspace": True, "kernel_netem": missing is None,
            "auto": resolve_backend("auto")}
    if args.json:
        print(json.dumps(dict(info, kernel_netem_missing=missing)))
        return 0
    print(f"kernel {info['kernel']}")
    print("  userspace: available (delay line + tbf)")
    print("  kernel:    " + ("available (tc netem + tbf)" if missing is None else
                             f"not available: {missing}; `python -m netem vm -- CMD` runs CMD in a VM that has it"))
    print(f"  auto ->    {info['auto']}")
    return 0


def cmd_vm(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .vm import NOT_STARTED, VmError, run

    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        return run(cmd, cpus=args.cpus, memory=args.memory, accel=args.accel, timeout=args.timeout,
                   install=not args.no_install)
    except (VmError, ConfigError) as e:
        print(f"netem vm: {e}", file=sys.stderr)
        return NOT_STARTED if isinstance(e, VmError) else 2


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main
    from .errors import check_range
    from .profile import MAX_DELAY_MS

    try:
        delays = [float(d) for d in args.delays.split(",") if d.strip()]
    except ValueError:
        raise ConfigError("--delays", args.delays, "one-way delays in ms, comma-separated numbers") from None
    if not delays:
        raise ConfigError("--delays", args.delays, "one or more one-way delays in ms")
    for d in delays:
        check_range("--delays", d, 0.0, MAX_DELAY_MS, "ms each")
    check_range("--seconds", args.seconds, 0.1, 600, "seconds")
    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m netem", description="resetlab's network layer")
    p.prefix = "netem: error: "
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cleanup", help="remove leftovers of killed runs (prefix rl-)")
    c.add_argument("--dry-run", action="store_true", help="list what would be removed")
    c.add_argument("--all", action="store_true", help="also runs whose owner is still alive")
    c.set_defaults(fn=cmd_cleanup)
    b = sub.add_parser("bench", help="delay error, throughput, CPU, setup/teardown time")
    b.add_argument("--json", action="store_true", help="one JSON object per line")
    b.add_argument("--backend", default="userspace", choices=("userspace", "kernel", "both"),
                   help="both: each delay on userspace and kernel, with kernel/userspace ratios")
    b.add_argument("--delays", default="0,20,100", help="one-way delays in ms, comma-separated")
    b.add_argument("--seconds", type=float, default=3.0, help="bulk transfer duration")
    b.set_defaults(fn=cmd_bench)
    k = sub.add_parser("backends", help="which shaping backends this kernel supports")
    k.add_argument("--json", action="store_true", help="one JSON object")
    k.set_defaults(fn=cmd_backends)
    v = sub.add_parser("vm", help="run a command in a VM whose kernel has sch_netem (virtme-ng)",
                       description="Boot a kernel with sch_netem under QEMU (KVM when usable, else TCG) "
                                   "with this machine's filesystem and the repository at the same path; "
                                   "run CMD inside; exit with CMD's status (125: the VM did not start).")
    v.add_argument("--cpus", type=int, default=2, help="vCPUs (default 2; TCG uses a host core per vCPU)")
    v.add_argument("--memory", default="3G", help="guest memory (default 3G)")
    v.add_argument("--accel", default="auto", help="auto (KVM when it can boot a guest here), kvm or tcg")
    v.add_argument("--timeout", type=float, default=None, help="stop the VM after this many seconds")
    v.add_argument("--no-install", action="store_true", help="fail instead of running scripts/setup.sh --vm")
    v.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    v.set_defaults(fn=cmd_vm)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:  # bad input found past argument parsing: one line, not a traceback
        print(f"netem: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

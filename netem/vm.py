"""`python -m netem vm -- CMD...`: run CMD inside a VM whose kernel has sch_netem.

The development machines' kernel has no sch_netem, so the kernel backend can only run in a
guest: virtme-ng boots a distribution kernel (Debian's linux-image-amd64, netem as a
module) with this machine's root filesystem, read-only (the guest's writes to /tmp, /run
etc. go to tmpfs overlays), and the repository read-write at the same path, so CMD sees
the same files, Python and packages. KVM when it can run a guest here, else TCG (pure
emulation: ~10x slower, coarse timers; RESETLAB_VM_ACCEL tells the guest which, so tests
can assert what holds under emulation).

Whether the guest started is told by a status folder shared with it (the guest writes
`started` first and CMD's exit status last), not by parsing the console: a VM that cannot
start is one line on stderr and exit status 125, CMD's own status otherwise.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from .errors import ConfigError, check_range

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_ENV = "RESETLAB_VM_KERNEL"  # a vmlinuz to boot instead of the newest one with sch_netem
ACCEL_ENV = "RESETLAB_VM_ACCEL"  # set inside the guest: "kvm" or "tcg"
ACCELS = ("auto", "kvm", "tcg")
NOT_STARTED = 125  # like `env`/`docker run`: the runner failed, not the command
# passed into the guest; RESETLAB_* except anything that looks like a credential
PASS_ENV = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TERM")
SECRET_RE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.I)
KVM_PROBE_SECONDS = 60  # a KVM boot takes a few seconds; a broken nested KVM hangs instead
KVM_CACHE = "/var/tmp/resetlab-vm-accel"
GUEST_MODULES = "tun veth sch_netem sch_tbf nf_conntrack nf_nat nf_tables nft_chain_nat nft_masq nft_ct"


def startup_factor() -> float:
    """How much longer process startup deadlines should be here: Python starting from a 9p
    root on an emulated CPU (a TCG guest) takes ~10x as long as on the host."""
    return 8.0 if os.environ.get(ACCEL_ENV) == "tcg" else 1.0


class VmError(Exception):
    """The VM could not be prepared or started: one line, the reason."""


def kernel_has_netem(vmlinuz: str) -> bool:
    ver = os.path.basename(vmlinuz).removeprefix("vmlinuz-")
    return bool(glob.glob(f"/lib/modules/{ver}/kernel/net/sched/sch_netem.ko*"))


def find_kernel() -> str:
    """The kernel to boot: $RESETLAB_VM_KERNEL, else the newest /boot/vmlinuz-* with sch_netem."""
    given = os.environ.get(KERNEL_ENV)
    if given:
        if not os.path.isfile(given):
            raise ConfigError(KERNEL_ENV, given, "the path of a vmlinuz file")
        return given
    found = [k for k in glob.glob("/boot/vmlinuz-*") if kernel_has_netem(k)]
    if not found:
        raise VmError("no kernel with sch_netem in /boot (scripts/setup.sh --vm installs Debian's "
                      "linux-image-amd64)")
    return max(found, key=_version_key)


def _version_key(path: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", os.path.basename(path))]


def missing_tools() -> list[str]:
    need = {"vng": "virtme-ng (pip)", "qemu-system-x86_64": "qemu-system-x86 (apt)",
            "busybox": "busybox-static (apt; virtme-ng's initramfs)"}
    return [what for exe, what in need.items() if shutil.which(exe) is None]


def ensure_installed(install: bool = True) -> None:
    """Install the VM's tools and kernel through `scripts/setup.sh --vm` when they are missing."""
    def missing() -> list[str]:
        gone = missing_tools()
        if not any(kernel_has_netem(k) for k in glob.glob("/boot/vmlinuz-*")) and not os.environ.get(KERNEL_ENV):
            gone.append("a kernel with sch_netem (linux-image-amd64)")
        return gone

    gone = missing()
    if gone and install:
        if os.geteuid() != 0:
            raise VmError(f"missing {', '.join(gone)}; run scripts/setup.sh --vm as root")
        print(f"netem vm: installing {', '.join(gone)} (scripts/setup.sh --vm)", file=sys.stderr)
        done = subprocess.run([os.path.join(REPO, "scripts", "setup.sh"), "--vm"], stdout=sys.stderr)
        if done.returncode != 0:
            raise VmError(f"scripts/setup.sh --vm failed with status {done.returncode}")
        gone = missing()
    if gone:
        raise VmError(f"missing {', '.join(gone)}; run scripts/setup.sh --vm")


def kvm_usable(kernel: str) -> bool:
    """Can KVM run this guest here? An accessible /dev/kvm is not enough: nested KVM on some
    hosts refuses the CPU model or hangs early in boot. So boot once and remember the answer
    (per host kernel and guest kernel) in /var/tmp."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    key = f"{os.uname().release} {os.path.basename(kernel)}"
    try:
        with open(KVM_CACHE) as f:
            cached = dict(line.rsplit(" ", 1) for line in f.read().splitlines() if " " in line)
        if key in cached:
            return cached[key] == "kvm"
    except OSError:
        pass
    try:
        probe = subprocess.run(["vng", "--run", kernel, "--cpus", "1", "--memory", "512M",
                                "--exec", "true"], capture_output=True, timeout=KVM_PROBE_SECONDS,
                               stdin=subprocess.DEVNULL)
        ok = probe.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    try:
        with open(KVM_CACHE, "a") as f:
            f.write(f"{key} {'kvm' if ok else 'tcg'}\n")
    except OSError:
        pass
    return ok


def guest_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith("RESETLAB_") and not SECRET_RE.search(k)})
    env.pop(KERNEL_ENV, None)
    return env


def guest_script(cmd: list[str], cwd: str, env: dict[str, str], status_dir: str) -> str:
    """The shell line the guest runs: mark the start, run CMD where it was asked, keep its status.

    The modules the lab uses are loaded first, as they are on a machine that has run it:
    the guest has no static /dev/net/tun node to autoload tun from (the userspace delay line
    needs it), and a module loaded mid-test (nf_conntrack by the first NAT) would add
    sysctls to the guest's own namespace, which the isolation tests compare byte for byte.
    """
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    sd = shlex.quote(status_dir)
    return (f": > {sd}/started; modprobe -qa {GUEST_MODULES} 2>/dev/null; cd {shlex.quote(cwd)} && export {exports} && "
            f"{shlex.join(cmd)}; echo $? > {sd}/rc")


def vng_argv(kernel: str, accel: str, cpus: int, memory: str, rw_dirs: list[str], cwd: str,
             script: str) -> list[str]:
    argv = ["vng", "--run", kernel, "--cpus", str(cpus), "--memory", memory, "--cwd", cwd]
    if accel == "tcg":
        argv.append("--disable-kvm")
    for d in rw_dirs:
        argv.append(f"--rwdir={d}")
    return argv + ["--exec", script]


def check_memory(memory: str) -> str:
    if not re.fullmatch(r"[1-9]\d*[MG]", memory):
        raise ConfigError("--memory", memory, "a size like 512M or 3G")
    return memory


def run(cmd: list[str], cpus: int = 2, memory: str = "3G", accel: str = "auto",
        timeout: float | None = None, install: bool = True) -> int:
    """Run cmd in the VM; CMD's exit status, or raise VmError when the VM does not start."""
    if not cmd:
        raise ConfigError("command", "", "a command after --, e.g. python -m netem vm -- uname -r")
    check_range("--cpus", cpus, 1, os.cpu_count() or 1)
    check_memory(memory)
    if accel not in ACCELS:
        raise ConfigError("--accel", accel, "one of " + ", ".join(map(repr, ACCELS)))
    ensure_installed(install)
    kernel = find_kernel()
    if accel == "auto":
        accel = "kvm" if kvm_usable(kernel) else "tcg"
    cwd = os.getcwd()
    status_dir = tempfile.mkdtemp(prefix="rl-vm-", dir="/var/tmp")
    try:
        env = dict(guest_env(), **{ACCEL_ENV: accel})
        argv = vng_argv(kernel, accel, cpus, memory, [REPO, status_dir], cwd,
                        guest_script(cmd, cwd, env, status_dir))
        tail = _run_streaming(argv, timeout)
        rc_file = os.path.join(status_dir, "rc")
        if not os.path.exists(os.path.join(status_dir, "started")):
            raise VmError(f"the VM did not start ({accel}, {os.path.basename(kernel)}): "
                          f"{tail or 'no message'}")
        if not os.path.exists(rc_file):
            raise VmError(f"the VM stopped before the command finished: {tail or 'no message'}")
        with open(rc_file) as f:
            return int(f.read().strip() or NOT_STARTED)
    finally:
        shutil.rmtree(status_dir, ignore_errors=True)


def _run_streaming(argv: list[str], timeout: float | None) -> str:
    """Run vng, copying its stdout and stderr through; the last stderr line.

    Both go through pipes rather than our own descriptors: QEMU reopens a console file
    from offset 0, so `python -m netem vm ... > out.log` would have its head overwritten.
    """
    try:
        # its own process group: vng does not exec QEMU, so stopping it means stopping both
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise VmError(f"cannot run {argv[0]}: {e.strerror}") from None
    last: list[str] = []

    def copy(src, dst, keep: bool) -> None:
        for raw in iter(lambda: src.read1(65536), b""):
            dst.write(raw)
            dst.flush()
            if keep:
                lines = [x for x in raw.decode(errors="replace").splitlines() if x.strip()]
                if lines:
                    last[:] = [lines[-1].strip()]

    threads = [threading.Thread(target=copy, args=(proc.stdout, sys.stdout.buffer, False), daemon=True),
               threading.Thread(target=copy, args=(proc.stderr, sys.stderr.buffer, True), daemon=True)]
    for t in threads:
        t.start()
    old_term = None
    if threading.current_thread() is threading.main_thread():
        # a SIGTERM to us (CI timeout, kill) must stop the VM too: it is in its own session
        old_term = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise VmError(f"the VM ran longer than --timeout {timeout:g} s and was stopped") from None
    except BaseException:  # Ctrl-C, SIGTERM turned into SystemExit: no QEMU left behind
        _stop(proc)
        raise
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        for t in threads:
            t.join(5)
    return last[0] if last else ""


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass

"""Entering network namespaces: named-namespace lifecycle, calls, sockets, processes, sysctls.

setns(2) with CLONE_NEWNET changes only the calling *thread*, so "run this inside host X"
is a short-lived thread that enters the namespace, runs the function and ends. A socket
keeps the namespace it was created in, so `socket_in()` hands back ordinary sockets that
the caller uses from any thread. Processes enter the namespace between fork and exec.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_SHARED = 1 << 20
MS_REC = 16384
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(rc: int, what: str, name: str = "") -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} failed: {os.strerror(err)}", name)


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def _setns_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns", path)
    finally:
        os.close(fd)


@contextlib.contextmanager
def entered(name: str):
    """The calling thread inside namespace `name` until the block ends (threads and processes
    it starts meanwhile are inside too): e.g. a test whose clients must have no route out."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns_path(netns_path(name))
        try:
            yield
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "setns", "back")
    finally:
        os.close(home)


def _ensure_run_dir() -> None:
    """Make /run/netns a shared mount point, as iproute2 does, so `ip netns` sees ours too."""
    os.makedirs(NETNS_RUN_DIR, exist_ok=True)
    if _libc.mount(b"", NETNS_RUN_DIR.encode(), b"none", MS_SHARED | MS_REC, None) != 0:
        _check(_libc.mount(NETNS_RUN_DIR.encode(), NETNS_RUN_DIR.encode(), b"none", MS_BIND | MS_REC, None),
               "bind-mount", NETNS_RUN_DIR)
        _check(_libc.mount(b"", NETNS_RUN_DIR.encode(), b"none", MS_SHARED | MS_REC, None),
               "make-shared", NETNS_RUN_DIR)


def _in_thread(fn: Callable[[], T], netns: str | None = None) -> T:
    """Run fn() in a fresh thread (entering `netns` first, if given) and return its result."""
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            if netns is not None:
                _setns_path(netns_path(netns))
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread below
            box["error"] = e

    t = threading.Thread(target=runner, name=f"netns:{netns}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def call_in(name: str | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run fn(*args) in a fresh thread inside network namespace `name` (None: this one)."""
    if name is None:
        return fn(*args, **kwargs)
    return _in_thread(lambda: fn(*args, **kwargs), name)


def create_netns(name: str) -> None:
    """Create the named namespace /run/netns/<name> (fails if it exists)."""
    _ensure_run_dir()
    path = netns_path(name)

    def make() -> None:
        # The thread unshares into a brand new namespace, pins it with a bind mount,
        # and then ends: its namespace change dies with it.
        _check(_libc.unshare(CLONE_NEWNET), "unshare", name)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        try:
            _check(_libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                   "mount", name)
        except OSError:
            os.unlink(path)
            raise

    _in_thread(make)


def remove_netns(name: str) -> None:
    path = netns_path(name)
    _libc.umount2(path.encode(), MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(netns_path(name)).st_ino
    except OSError:
        return None


def pids_in_netns(name: str) -> list[int]:
    """Processes whose network namespace is `name` (by inode of /proc/<pid>/ns/net)."""
    ino = netns_inode(name)
    if ino is None:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == ino:
                pids.append(int(entry))
        except OSError:
            continue
    if ino == os.stat("/proc/self/ns/net").st_ino:
        return []  # never treat the host's own namespace as ours
    return pids


def socket_in(name: str | None, family: int, type_: int, proto: int = 0):
    import socket

    return call_in(name, socket.socket, family, type_, proto)


def sysctl_write(name: str | None, key: str, value: str | int) -> None:
    """Write a sysctl (dotted or slashed key) as seen from namespace `name`.

    /proc/sys/net resolves against the network namespace of the thread that opens it.
    """
    path = "/proc/sys/" + key.replace(".", "/")

    def write() -> None:
        with open(path, "w") as f:
            f.write(str(value))

    call_in(name, write)


def sysctl_read(name: str | None, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")

    def read() -> str:
        with open(path) as f:
            return f.read().strip()

    return call_in(name, read)


def _child_setup(name: str | None) -> Callable[[], None]:
    path = netns_path(name) if name else None

    def setup() -> None:
        # Runs in the child between fork and exec. PDEATHSIG ties the child's life to the
        # thread that spawned it, so a SIGKILLed test worker does not leave it running.
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if path:
            fd = os.open(path, os.O_RDONLY)
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                os._exit(126)
            os.close(fd)

    return setup


# variables a lab process never inherits: the user's keys and tokens stay in the user's shell
SECRET_RE = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)


def scrubbed_environ(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default os.environ) without any variable whose name looks like a secret."""
    return {k: v for k, v in (os.environ if env is None else env).items() if not SECRET_RE.search(k)}


def popen_in(name: str | None, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """Start a process inside namespace `name`. It dies with the thread that started it.
    Without an explicit `env` it gets ours minus secrets (scrubbed_environ)."""
    if kwargs.get("env") is None:
        kwargs["env"] = scrubbed_environ()
    return subprocess.Popen(list(argv), preexec_fn=_child_setup(name), **kwargs)


def stop_process(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """End a process we started: SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    if not _wait_exit(proc, grace):
        proc.kill()
    proc.wait()


def _wait_exit(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for exit without Popen.wait(timeout)'s sleep-polling (it oversleeps by ~50 ms)."""
    import select

    try:
        fd = os.pidfd_open(proc.pid)
    except (OSError, AttributeError):
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)

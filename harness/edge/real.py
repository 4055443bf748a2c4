"""Run a real proxy (nginx or haproxy) from an EdgePolicy, on loopback or inside a host.

    with RealEdge("nginx", policy, listen="127.0.0.1:8080", upstream="127.0.0.1:9000") as edge:
        ...
    # inside a world: RealEdge(..., host=topo["edge"]) starts it in the edge namespace
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

from netem import nsexec

from . import haproxy, nginx
from .policy import EdgePolicy

KINDS = {"nginx": nginx, "haproxy": haproxy}


def available(kind: str) -> bool:
    return shutil.which(kind) is not None or os.path.exists(f"/usr/sbin/{kind}")


class RealEdge:
    def __init__(self, kind: str, policy: EdgePolicy, listen: str, upstream: str, host=None):
        if kind not in KINDS:
            raise ValueError(f"edge kind: got {kind!r}; allowed one of {', '.join(KINDS)}")
        self.kind, self.policy, self.listen, self.upstream, self.host = kind, policy, listen, upstream, host
        self.module = KINDS[kind]
        self.workdir = ""
        self.proc: subprocess.Popen | None = None

    @property
    def unsupported(self) -> list[str]:
        return self.module.unsupported(self.policy)

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    def __enter__(self) -> RealEdge:
        self.workdir = tempfile.mkdtemp(prefix=f"rl-{self.kind}-")
        conf = os.path.join(self.workdir, f"{self.kind}.conf")
        with open(conf, "w") as f:
            f.write(self.module.config(self.policy, self.listen, self.upstream, self.workdir))
        argv = self.module.argv(conf, self.workdir)
        argv[0] = shutil.which(argv[0]) or f"/usr/sbin/{argv[0]}"
        log = open(os.path.join(self.workdir, "stderr.log"), "w")
        if self.host is not None:
            self.proc = self.host.popen(argv, stdout=log, stderr=subprocess.STDOUT)
        else:
            self.proc = nsexec.popen_in(None, argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            self._wait_listening()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_listening(self, timeout: float = 10.0) -> None:
        addr, port = self.listen.rsplit(":", 1)
        netns = self.host.netns if self.host is not None else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited {self.proc.returncode}: {self.log_tail()}")
            s = nsexec.socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.settimeout(0.2)
                s.connect((addr, int(port)))
                return
            except OSError:
                time.sleep(0.02)
            finally:
                s.close()
        raise TimeoutError(f"{self.kind} not listening on {self.listen} after {timeout}s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        out = []
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.workdir, name)) as f:
                    out.append(f.read()[-n:])
            except OSError:
                pass
        return " | ".join(s.strip() for s in out if s.strip())

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            nsexec.stop_process(self.proc)
            self.proc = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

"""`python -m netem vm`: its arguments, what it hands the guest, and its one failure line.

No VM boots here (that takes minutes under TCG): a fake `vng` stands in for virtme-ng and
plays a guest that starts (runs the script it is given) or a QEMU that cannot start.
`tox -e kernel` boots the real one.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from netem import vm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(*args, env=None, path_prefix=None):
    e = dict(os.environ, **(env or {}))
    if path_prefix:
        e["PATH"] = f"{path_prefix}:{e['PATH']}"
    return subprocess.run([sys.executable, "-m", "netem", "vm", *args], capture_output=True, text=True,
                          cwd=ROOT, env=e, timeout=60)


@pytest.fixture
def fake_vm(tmp_path):
    """A folder with a fake vng (+ qemu, busybox) and a fake kernel with sch_netem's path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for exe in ("qemu-system-x86_64", "busybox", "modprobe"):  # the guest's modprobe: never the host's
        (bindir / exe).write_text("#!/bin/sh\nexit 0\n")
        (bindir / exe).chmod(0o755)
    kernel = tmp_path / "vmlinuz-fake"
    kernel.write_text("")

    def make(body: str):
        # the real vng takes the guest's shell line after --exec, as its last argument
        (bindir / "vng").write_text("#!/bin/sh\n" + f'echo "$@" > {tmp_path}/argv\n' + body)
        (bindir / "vng").chmod(0o755)
        return {"env": {vm.KERNEL_ENV: str(kernel)}, "path_prefix": str(bindir), "argv": tmp_path / "argv"}

    return make


# a guest that starts: runs the script with nothing of the host's environment
GUEST = 'for last; do :; done; exec env -i PATH="$(dirname "$0")" /bin/sh -c "$last"\n'


def test_command_status_and_output_come_back(fake_vm):
    f = fake_vm(GUEST)
    r = _cli("--accel", "tcg", "--cpus", "1", "--memory", "1G", "--", "sh", "-c", "echo out; echo err >&2; exit 7",
             env=f["env"], path_prefix=f["path_prefix"])
    assert r.returncode == 7, r.stderr
    assert r.stdout == "out\n" and r.stderr == "err\n"
    argv = f["argv"].read_text()
    assert "--disable-kvm" in argv and "--cpus 1 --memory 1G" in argv
    assert f"--rwdir={ROOT}" in argv and f"--cwd {ROOT}" in argv


def test_guest_gets_the_path_and_the_accelerator_but_no_secrets(fake_vm):
    f = fake_vm(GUEST)
    env = dict(f["env"], RESETLAB_MATRIX="quick", RESETLAB_TEST_KEY="sk-secret", PYTHONPATH="/x y")
    r = _cli("--accel", "tcg", "--", "sh", "-c", 'echo "$RESETLAB_MATRIX|$RESETLAB_VM_ACCEL|$PYTHONPATH|${RESETLAB_TEST_KEY:-none}"',
             env=env, path_prefix=f["path_prefix"])
    assert r.stdout == "quick|tcg|/x y|none\n", r.stderr
    assert "sk-secret" not in f["argv"].read_text()


def test_arguments_with_quotes_and_spaces_reach_the_command_intact(fake_vm):
    f = fake_vm(GUEST)
    odd = ["a b", "it's", '"q"', "$HOME", ";true"]
    r = _cli("--accel", "tcg", "--", sys.executable, "-c", "import sys; print(sys.argv[1:])", *odd,
             env=f["env"], path_prefix=f["path_prefix"])
    assert r.stdout.strip() == repr(odd), r.stderr


def test_vm_that_cannot_start_is_one_line(fake_vm):
    f = fake_vm('echo "qemu-system-x86_64: -accel tcg: could not allocate 3G" >&2\nexit 1\n')
    r = _cli("--accel", "tcg", "--", "true", env=f["env"], path_prefix=f["path_prefix"])
    assert r.returncode == vm.NOT_STARTED
    last = r.stderr.strip().splitlines()[-1]
    assert last == "netem vm: the VM did not start (tcg, vmlinuz-fake): " \
                   "qemu-system-x86_64: -accel tcg: could not allocate 3G"


def test_vm_that_dies_mid_command_is_one_line(fake_vm):
    # the guest starts (writes `started`) but never reports the command's status
    f = fake_vm('for last; do :; done; sd=$(echo "$last" | sed "s/^: > \\([^ ]*\\)\\/started.*/\\1/")\n'
                ': > "$sd/started"\necho "Kernel panic" >&2\nexit 0\n')
    r = _cli("--accel", "tcg", "--", "true", env=f["env"], path_prefix=f["path_prefix"])
    assert r.returncode == vm.NOT_STARTED
    assert r.stderr.strip().splitlines()[-1] == "netem vm: the VM stopped before the command finished: Kernel panic"


@pytest.mark.parametrize("args, line", [
    ((), "netem vm: command: got ''; allowed a command after --"),
    (("--cpus", "0", "--", "true"), "netem vm: --cpus: got 0; allowed a number in [1, "),
    (("--memory", "lots", "--", "true"), "netem vm: --memory: got 'lots'; allowed a size like 512M or 3G"),
    (("--accel", "hvf", "--", "true"), "netem vm: --accel: got 'hvf'; allowed one of 'auto', 'kvm', 'tcg'"),
])
def test_bad_arguments_are_one_line(args, line):
    r = _cli(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(line), r.stderr


def test_missing_kernel_file_is_one_line(fake_vm):
    f = fake_vm(GUEST)
    r = _cli("--accel", "tcg", "--", "true", env={vm.KERNEL_ENV: "/nonexistent/vmlinuz"},
             path_prefix=f["path_prefix"])
    assert r.returncode == 2
    assert r.stderr == "netem vm: RESETLAB_VM_KERNEL: got '/nonexistent/vmlinuz'; allowed the path of a vmlinuz file\n"


def test_missing_tools_without_install_is_one_line(tmp_path):
    # a PATH with python only: no vng, no qemu
    (tmp_path / "python").symlink_to(sys.executable)
    r = subprocess.run([str(tmp_path / "python"), "-m", "netem", "vm", "--no-install", "--", "true"],
                       capture_output=True, text=True, cwd=ROOT, env={"PATH": str(tmp_path)}, timeout=60)
    assert r.returncode == vm.NOT_STARTED
    assert r.stderr.startswith("netem vm: missing virtme-ng (pip), qemu-system-x86 (apt)")
    assert r.stderr.rstrip().endswith("run scripts/setup.sh --vm") and r.stderr.count("\n") == 1


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["sigterm", "timeout"])
def test_stopping_the_command_stops_the_vm(fake_vm, tmp_path, how):
    # a VM that runs "forever", as QEMU would: a child of vng, like the real one
    f = fake_vm(f"sleep 600 & echo $! > {tmp_path}/qemu.pid\nwait\n")
    e = dict(os.environ, **f["env"], PATH=f"{f['path_prefix']}:{os.environ['PATH']}")
    args = ["--timeout", "1"] if how == "timeout" else []
    p = subprocess.Popen([sys.executable, "-m", "netem", "vm", "--accel", "tcg", *args, "--", "true"],
                         cwd=ROOT, env=e, stderr=subprocess.PIPE, text=True)
    pidfile = tmp_path / "qemu.pid"
    # up to 30 s for `netem vm` to start the fake guest (it imports netem and checks the host:
    # seconds when -n 2 workers and other tests' subprocesses share 2 cores: the sigterm case failed once
    # under -n 2, its message not kept, and this wait is its only bound before the assertions)
    for _ in range(300):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.1)
    qemu = int(pidfile.read_text())
    if how == "sigterm":
        p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == (vm.NOT_STARTED if how == "timeout" else 128 + signal.SIGTERM), err
    if how == "timeout":
        assert err == "netem vm: the VM ran longer than --timeout 1 s and was stopped\n"
    for _ in range(50):
        if not _alive(qemu):
            break
        time.sleep(0.1)
    assert not _alive(qemu), "the VM outlived `netem vm`"


def test_inside_the_vm_a_kernel_without_netem_fails_the_run_instead_of_skipping():
    """Where the VM's kernel cannot run them, the kernel_netem tests must not pass as skipped
    (`.ci/run`'s VM step would go green having tested nothing). This host has no sch_netem
    (or the test skips): playing the guest here must end the run with the reason."""
    from netem.shaping import kernel_netem_missing

    if not kernel_netem_missing():
        pytest.skip("this kernel has sch_netem: nothing is missing to report")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "-m", "kernel_netem",
           os.path.join(ROOT, "tests", "netem", "test_kernel_backend.py")]
    guest = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120,
                           env=dict(os.environ, RESETLAB_VM_ACCEL="tcg"))
    assert guest.returncode != 0, guest.stdout + guest.stderr
    assert "inside `netem vm` the kernel_netem tests cannot run" in guest.stdout + guest.stderr
    host = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "RESETLAB_VM_ACCEL"})
    assert host.returncode == 0, host.stdout + host.stderr  # outside the VM: collected, to be skipped

"""A two-node Ray cluster for the tests (and benchmarks/ray_overhead.py), on loopback only.

Ray takes the machine's network-interface address for its node even when told 127.0.0.1,
so the cluster, and the grader that drives it, run inside a namespace made here: its own
network (only `lo`, up), PID and mount namespaces, with nsinit.py as PID 1. Commands run
in it through nsenter. When the namespace's PID 1 ends (`close`, or the test process dying,
which closes its stdin), the kernel kills every process in it: no Ray daemon, actor or
grading server can outlive the tests.

The cluster: `ray start --head` and a second `ray start --address` node on this machine,
one CPU each, token authentication with a token of its own, no dashboard or autoscaler,
a short --temp-dir (Ray's socket paths must stay under 108 bytes). The Ray processes get
`lean/` on their path: it hides the `rfc3987_syntax` package that the nbgrader extra brings
in, which jsonschema (imported by Ray) would otherwise load, at 3 s per Ray process.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NSINIT = HERE / "nsinit.py"
LEAN = HERE / "lean"
RAY = str(Path(sys.executable).parent / "ray")
PORT = 6379  # free: the namespace is new
NODE_MEMORY = 3 << 30  # Ray's logical memory per node: the grading actor and a few labs
OBJECT_STORE = 200 << 20


class NamespaceUnavailable(RuntimeError):
    """Neither root nor unprivileged user namespaces: the namespace cannot be made."""


def _die_with_parent() -> None:
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Namespace:
    """A loopback-only network, PID and mount namespace, held by nsinit.py as its PID 1."""

    def __init__(self):
        self.root = os.geteuid() == 0
        argv = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
        if not self.root:
            argv.append("--map-root-user")  # unprivileged: a user namespace of its own
        self.proc = subprocess.Popen([*argv, sys.executable, str(NSINIT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        if self.proc.stdout.readline().strip() != b"ready":
            self.proc.kill()
            why = self.proc.communicate()[1].decode(errors="replace").strip()
            raise NamespaceUnavailable(
                "the Ray tests run their cluster in a network namespace of their own, and it could not be "
                f"made ({why or 'unshare failed'}): run them as root (CI does), or where unprivileged "
                "user namespaces are allowed (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu also "
                "kernel.apparmor_restrict_unprivileged_userns=0)")
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        self.pid1 = int(children.read_text().split()[0])  # unshare --fork: nsinit is its one child
        self.pid_ns = os.stat(f"/proc/{self.pid1}/ns/pid").st_ino

    def argv(self, cmd: list[str]) -> list[str]:
        """`cmd` run inside the namespace, in this process's working directory."""
        enter = ["nsenter", f"--target={self.pid1}", "--net", "--pid", "--mount"]
        if not self.root:
            enter += ["--user", "--preserve-credentials"]
        return [*enter, f"--wd={os.getcwd()}", "--", *cmd]

    def run(self, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(cmd), preexec_fn=_die_with_parent, **kwargs)

    def popen(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv(cmd), preexec_fn=_die_with_parent, **kwargs)

    def processes(self) -> dict[int, str]:
        """The processes of the namespace but its PID 1, as {pid seen from here: command line}."""
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == self.pid1:
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/pid").st_ino != self.pid_ns:
                    continue
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # ended meanwhile
            found[int(entry)] = cmdline.strip()
        return found

    def close(self) -> None:
        """End PID 1 (every process of the namespace dies with it) and wait for it."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # --kill-child: nsinit gets SIGKILL, the namespace goes
                self.proc.wait()


class Cluster:
    """A head and a second node, one CPU each, in `namespace`; `env` is what a driver needs
    (the token, and the kit's root on PYTHONPATH so that every node imports this kit)."""

    def __init__(self, namespace: Namespace, kit_root: Path, cpus: int = 1, nodes: int = 2):
        self.ns = namespace
        self.temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
        os.chmod(self.temp, 0o755)
        path = os.pathsep.join(str(p) for p in (LEAN, kit_root, os.environ.get("PYTHONPATH")) if p)
        self.env = dict(os.environ, PYTHONPATH=path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16),
                        RAY_USAGE_STATS_ENABLED="0")
        self.env.pop("RAY_ADDRESS", None)
        self.address = f"127.0.0.1:{PORT}"
        started = time.monotonic()
        try:
            self._ray("start", "--head", f"--port={PORT}", "--include-dashboard=false", "--no-monitor",
                      *self._node("head", cpus))
            for i in range(1, nodes):
                self._ray("start", f"--address={self.address}", *self._node(f"node{i}", cpus))
            self._wait_for(nodes)
        except BaseException:
            shutil.rmtree(self.temp, ignore_errors=True)  # what was started dies with the namespace
            raise
        self.start_s = time.monotonic() - started

    def _node(self, name: str, cpus: int) -> list[str]:
        return ["--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--num-gpus=0",
                f"--memory={NODE_MEMORY}", f"--object-store-memory={OBJECT_STORE}",
                f"--temp-dir={self.temp / name}", "--disable-usage-stats", f"--node-name={name}"]

    def _ray(self, *args: str) -> str:
        done = self.ns.run([RAY, *args], env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"ray {args[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return done.stdout

    def _wait_for(self, nodes: int, timeout: float = 120) -> None:
        code = ("import sys, time, ray\n"
                f"ray.init(address={self.address!r}, log_to_driver=False)\n"
                f"deadline = time.time() + {timeout}\n"
                f"while sum(n['Alive'] for n in ray.nodes()) < {nodes}:\n"
                "    if time.time() > deadline: sys.exit('the nodes did not all join')\n"
                "    time.sleep(0.2)\n")
        done = self.ns.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                           timeout=timeout + 120)
        if done.returncode:
            raise RuntimeError(f"the cluster did not come up:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")

    def stop(self) -> dict[int, str]:
        """`ray stop --force`; returns the processes still in the namespace a few seconds
        later besides its PID 1 (none, when everything Ray started has gone)."""
        try:
            self._ray("stop", "--force")
            deadline = time.monotonic() + 15
            while (left := self.ns.processes()) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            shutil.rmtree(self.temp, ignore_errors=True)
        return left

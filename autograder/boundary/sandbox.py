"""Confine a worker before it imports a student's code.

Linux only. Once, in the zygote, before any thread starts (`prepare`):
  - a mount namespace of its own (as a non-root grader: inside a user namespace that maps
    its own uid, and a PID namespace it owns), where the worker's read-only root is built
    from an allow list (rootfs.py). The zygote itself keeps the machine's view.
Per worker (`Jail.fork`, then `confine` in the child):
  1. the child the zygote forks is PID 1 of a new PID namespace (the zygote unshares
     CLONE_NEWPID before the fork and returns to its own namespace after it);
  2. it takes its own mount, network, IPC and UTS namespaces: no network (only a loopback
     device, down), a private /tmp holding a copy of the submission, its own /dev/shm and
     /proc, then pivot_root into the root: nothing else of the machine exists for it;
  3. it runs the minimal init (pid1.py) and forks the student's process as PID 2, which
     calls `lock_down`: an unprivileged uid of its own (a root grader) or no capabilities (a
     non-root grader), no new privileges, resource limits, a clean environment, stdout and
     stderr to /dev/null. Everything dies with PID 1, whatever session it moved to.
Where the kernel refuses namespaces (some containers), or AUTOGRADER_SANDBOX=none, the worker
gets only the limits, its own process group, a scratch folder and, as root, its own uid
(`fallback`); `Confinement.notes` says what is missing (docs/security.md).
"""
from __future__ import annotations

import os
import resource
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.boundary import linux, rootfs
from autograder.boundary.linux import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS
from autograder.course.config import Limits

UID_BASE = rootfs.UID_BASE
_WORKER_NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES")

__all__ = ["Confinement", "Jail", "Limits", "confine", "fallback", "lock_down", "prepare", "read_tree"]


@dataclass
class Confinement:
    """What a worker had; recorded in each lab's results.json under `sandbox`."""

    network: bool = False  # isolated from the network
    files: bool = False  # the allow-list root: the rest of the machine does not exist for it
    pid_namespace: bool = False  # everything it starts dies with it
    init: bool = False  # the kit's init is PID 1: the student's code runs as an ordinary process
    uid: int | None = None  # the unprivileged uid it runs as, when the grader is root
    notes: list[str] = field(default_factory=list)


@dataclass
class Jail:
    """What the zygote set up once for all its workers (`prepare`)."""

    plan: rootfs.Plan | None = None  # None: the fallback, for the reasons in `notes`
    root: str = ""  # where the read-only root is mounted, in the zygote's mount namespace
    pid_namespace_fd: int | None = None  # the zygote's own PID namespace, to return to after a fork
    notes: list[str] = field(default_factory=list)

    @property
    def confined(self) -> bool:
        return self.plan is not None

    def fork(self) -> int:
        """os.fork(); when confined, the child is PID 1 of a new PID namespace."""
        if self.pid_namespace_fd is None:
            return os.fork()
        linux.unshare(CLONE_NEWPID)  # moves only the children forked from now on
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:  # back home, so that the next unshare(CLONE_NEWPID) is allowed
                linux.setns(self.pid_namespace_fd, CLONE_NEWPID)
        return pid


def _continue_in_child() -> None:
    """After unshare(CLONE_NEWPID): fork, and let the child (PID 1 of the new namespace, which
    our user namespace owns, so that setns() back into it is allowed) carry on. The parent
    forwards signals, waits, and exits as the child did."""
    pid = os.fork()
    if pid == 0:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        return
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: os.kill(pid, s))
    _, status = os.waitpid(pid, 0)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _trial(jail: Jail) -> None:
    """Confine one empty worker the way every worker will be; OSError if the kernel refuses
    any step (a container that masks /proc refuses the new /proc, for one)."""
    read, write = os.pipe()
    pid = jail.fork()
    if pid == 0:
        try:
            os.close(read)
            confine(jail, {}, [], Limits(tmp_mb=1), 0)
        except BaseException as e:  # noqa: BLE001 - report any failure to the zygote
            os.write(write, (getattr(e, "strerror", None) or str(e)).encode()[:500])
            os._exit(1)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        why = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise OSError(0, why or "a trial worker could not be confined")


def prepare(mountpoint: Path, package_dir: Path, deny: list[Path] = (), enabled: bool = True) -> Jail:
    """Once, in the zygote, while it has a single thread (before torch is imported): a mount
    namespace of its own holding the workers' root at `mountpoint` (an absent folder it may
    create), planned by rootfs.plan_root(package_dir, deny), and checked by confining a trial
    worker. Where that fails, or `enabled` is False, returns a Jail for the fallback whose
    notes say why. The zygote keeps the machine's view of the files either way."""
    if not enabled:
        return Jail(notes=["namespaces switched off (AUTOGRADER_SANDBOX=none)"])
    if not linux.LINUX:
        return Jail(notes=[f"no namespaces on {sys.platform}: network not isolated, files protected by permissions only"])
    try:
        plan = rootfs.plan_root(package_dir, deny)
        if os.getuid() == 0:
            linux.unshare(CLONE_NEWNS)
        else:
            linux.enter_user_namespace(CLONE_NEWNS | CLONE_NEWPID)
            _continue_in_child()
        rootfs.private(slave=True)
        os.makedirs(mountpoint, mode=0o755, exist_ok=True)
        rootfs.build(plan, str(mountpoint))
        jail = Jail(plan, str(mountpoint), os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC))
        _trial(jail)
    except (OSError, RuntimeError) as e:
        why = getattr(e, "strerror", None) or str(e)
        return Jail(notes=[f"no namespaces ({why}): network not isolated, files protected by permissions only"])
    return jail


def confine(jail: Jail, files: dict[str, bytes], hidden: list[str], limits: Limits, slot: int) -> tuple[Confinement, Path]:
    """Step 2, in PID 1 of the worker's PID namespace (the child of `jail.fork()`), with
    the submission's `files` already read (the host's paths are gone afterwards). `slot`:
    a number unique among live workers, small (< rootfs.NAMED_SLOTS as a rule), that makes
    the worker's uid. Returns (what the worker has, its submission folder)."""
    uid = UID_BASE + slot if os.getuid() == 0 else None
    linux.unshare(_WORKER_NAMESPACES)
    submission = rootfs.worker_mounts(jail.plan, jail.root, files, limits.tmp_mb, uid, hidden)
    linux.sethostname("sandbox")
    rootfs.enter(jail.root)
    return Confinement(network=True, files=True, pid_namespace=True, init=True, uid=uid), Path(submission)


def _closed_ancestor(path: str) -> str | None:
    """The topmost ancestor of `path` other users cannot enter (a home folder of mode 700)."""
    for parent in reversed(Path(path).parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return str(parent)
    return None


def fallback(files: dict[str, bytes], scratch: Path, slot: int, notes: list[str]) -> tuple[Confinement, Path]:
    """Without namespaces: the submission's `files` written into `scratch` (kept private to
    the worker's uid, UID_BASE + `slot`, when the grader is root). Returns (what the worker
    has, its submission folder)."""
    state = Confinement(notes=list(notes))
    uid = UID_BASE + slot if os.getuid() == 0 else None
    if uid is not None and any(_closed_ancestor(p) for p in rootfs.python_dirs()):
        # Without a mount namespace nothing can open Python's folder to another uid.
        state.notes.append("runs as the grader's uid: Python lives in a folder other users cannot enter")
        uid = None
    root = scratch / "submission"
    _write_files(root, files, uid)
    if uid is not None:
        os.chown(scratch, uid, uid)
        os.chmod(scratch, 0o700)  # other workers run as other uids
    state.uid = uid
    return state, root


def _write_files(root: Path, files: dict[str, bytes], owner: int | None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if owner is not None:
        for dirpath, _, names in os.walk(root):
            os.chown(dirpath, owner, owner)
            for name in names:
                os.chown(os.path.join(dirpath, name), owner, owner)


def read_tree(folder: Path) -> dict[str, bytes]:
    """The submission's regular files by relative path, read before the view of the file
    system changes."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def _gpu_groups() -> list[int]:
    """The groups of NVIDIA device nodes other users may not open (0660 root:video)."""
    groups = set()
    for name in os.listdir("/dev") if os.path.isdir("/dev") else []:
        if name.startswith("nvidia"):
            st = os.stat(os.path.join("/dev", name))
            if st.st_mode & 0o006 != 0o006:
                groups.add(st.st_gid)
    return sorted(groups)


def lock_down(root: Path, limits: Limits, state: Confinement, device: str, threads: int,
              gpu_share: float = 1.0, gpu_index: int | None = None) -> None:
    """Step 3, in the student's process just before its code is imported. On CUDA the
    allocator may take `gpu_share` of the GPU's memory: beyond it the student's code gets
    CUDA's out-of-memory error (status oom) and the workers beside it carry on. With
    `gpu_index`, the worker sees only that GPU (of those visible to the grader), as cuda:0.
    No address-space limit on CUDA: the driver reserves far more than it uses, and CUDA
    does not start under one."""
    cuda = device.startswith("cuda")
    if state.uid is not None:
        os.setgroups(_gpu_groups() if cuda else [])
        os.setresgid(state.uid, state.uid, state.uid)
        os.setresuid(state.uid, state.uid, state.uid)
    elif linux.LINUX:
        try:  # a non-root grader's worker keeps its uid: no capabilities instead
            linux.drop_capabilities()
        except OSError:
            pass
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # cleared by the uid change, so set after it
    mb = 1 << 20
    if linux.LINUX and not cuda:
        in_use = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (in_use + limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if state.uid is not None:  # per uid: only meaningful when the uid is the worker's own
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)
    keep = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
    os.environ.clear()
    os.environ.update(keep, HOME=str(root), TMPDIR="/tmp", OMP_NUM_THREADS=str(threads))
    if state.files and state.uid is not None and state.uid - UID_BASE < rootfs.NAMED_SLOTS:
        os.environ["USER"] = os.environ["LOGNAME"] = f"worker{state.uid - UID_BASE}"  # as the root's /etc/passwd
    if cuda:  # read when CUDA first starts, after the student's code does
        os.environ["PYTORCH_CUDA_ALLOC_CONF"] = f"per_process_memory_fraction:{min(1.0, gpu_share):.4f}"
        if gpu_index is not None:
            visible = [d for d in keep.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
            os.environ["CUDA_VISIBLE_DEVICES"] = visible[gpu_index % len(visible)] if visible else str(gpu_index)
    os.chdir(root)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)

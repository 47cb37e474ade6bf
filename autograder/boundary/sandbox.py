"""Confine a forked worker before it imports a student's code.

Linux only. In order, inside the freshly forked process:
  1. namespaces: its own mount, network, PID, IPC and UTS namespaces (as root directly;
     otherwise inside a new user namespace). No network: the new network namespace has
     only a loopback device that is down.
  2. files: a private tmpfs over /tmp (size-capped) that holds a copy of the one
     submission and nothing else; empty tmpfs over every hidden folder (the kit's
     solutions, tests and checks, the class, the results, MNIST with its test labels).
  3. a fork: the child is PID 1 of the new PID namespace, so when it dies every process it
     started dies with it, whatever process group they moved to.
  4. in the child: /proc remounted for the new PID namespace, an unprivileged uid of its
     own when the grader runs as root, no new privileges, resource limits, a clean
     environment, stdout and stderr to /dev/null.
Where the kernel refuses namespaces (some containers), the worker still gets steps 3-4
without the namespace parts; `Confinement.notes` says what is missing (docs/security.md).
"""
from __future__ import annotations

import ctypes
import os
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.config import Limits

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
UID_BASE = 200_000  # workers run as UID_BASE + a number unique among live workers

_libc = ctypes.CDLL(None, use_errno=True)
LINUX = sys.platform.startswith("linux")  # elsewhere (a student's Mac) only the limits apply


@dataclass
class Confinement:
    network: bool = False  # isolated from the network
    files: bool = False  # hidden folders and other submissions out of reach
    pid_namespace: bool = False  # everything it starts dies with it
    uid: int | None = None  # the unprivileged uid it runs as, when the grader is root
    notes: list[str] = field(default_factory=list)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _prctl(option: int, arg: int) -> None:
    if not LINUX:
        return
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), "prctl")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _enter_namespaces(state: Confinement, namespaces: bool) -> bool:
    """Step 1. Returns whether a mount namespace (hence step 2) is available."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    if not namespaces:  # the documented fallback, forced (AUTOGRADER_SANDBOX=none, for tests)
        state.notes.append("namespaces switched off (AUTOGRADER_SANDBOX=none)")
        return False
    if not LINUX:
        state.notes.append(f"no namespaces on {sys.platform}: network not isolated, files protected by permissions only")
        return False
    try:
        if uid == 0:
            _unshare(flags)
        else:
            _unshare(CLONE_NEWUSER | flags)
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"0 {uid} 1")
            _write("/proc/self/gid_map", f"0 {gid} 1")
    except OSError as e:
        state.notes.append(f"no namespaces ({e.strerror}): network not isolated, files protected by permissions only")
        return False
    state.network = state.pid_namespace = True
    return True


def python_paths() -> list[Path]:
    """The folders the worker's Python reads: the interpreter's, the virtual environment's,
    the import path's, and the autograder package."""
    import sys

    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(__file__).resolve().parent.parent}
    paths.update(Path(p) for p in sys.path if p and os.path.isdir(p))
    return sorted({p.resolve() for p in paths})


def _closed_ancestor(path: Path) -> Path | None:
    """The topmost ancestor others cannot enter (a home folder of mode 700), if any."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def _open_python_paths() -> None:
    """When Python lives in a folder other users cannot enter (say /root/.pyenv), cover that
    folder with a tmpfs they can enter and bind back only Python's folders: the worker's uid
    can import, and the rest of the home folder stays out of sight."""
    covers: dict[Path, list[Path]] = {}
    for path in python_paths():
        top = _closed_ancestor(path)
        if top is not None:
            covers.setdefault(top, []).append(path)
    for top, paths in covers.items():
        fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in paths]
        _mount("tmpfs", str(top), "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=0755")
        for p, fd in fds:
            os.makedirs(p, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", str(p), None, MS_BIND | MS_REC)
            os.close(fd)


def _hide(hidden: list[Path], state: Confinement, root_user: bool) -> None:
    """Step 2: empty, read-only tmpfs over each hidden folder; /dev/null over hidden files."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the grader's view
    if root_user:
        try:
            _open_python_paths()
        except OSError as e:
            state.notes.append(f"could not open Python's folders to the worker's uid: {e.strerror}")
    for path in hidden:
        try:
            if path.is_dir():
                _mount("tmpfs", str(path), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
            elif path.exists():
                _mount("/dev/null", str(path), None, MS_BIND)
        except OSError as e:
            state.notes.append(f"could not hide {path}: {e.strerror}")
            return
    state.files = True


def _fresh_tmp(files: dict[str, bytes], limits: Limits, owner: int | None) -> Path:
    """A private /tmp holding only the submission's files; returns the submission folder.
    Python's own folders under /tmp (a kit cloned there, with its virtual environment) are
    bound back, with the folders hidden inside them still hidden."""
    keep = [p for p in python_paths() if p.is_relative_to("/tmp")]
    keep = [p for p in keep if not any(q != p and p.is_relative_to(q) for q in keep)]
    fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in keep]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.tmp_mb}m,mode=1777")
    for path, fd in fds:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC)
        os.close(fd)
    for shm in ("/dev/shm",):
        if os.path.isdir(shm):
            _mount("tmpfs", shm, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    root = Path("/tmp/submission")
    _write_files(root, files, owner)
    return root


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
    """The submission's regular files, read before the view of the file system changes."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def enter(files: dict[str, bytes], hidden: list[Path], limits: Limits, scratch: Path, slot: int,
          namespaces: bool = True) -> tuple[int, Path, Confinement]:
    """Steps 1-3, called in a freshly forked process. Returns (pid, submission folder, state)
    in both processes of step 3's fork: pid is 0 in the confined child, which must call
    `lock_down` next; the parent only waits for it."""
    state = Confinement()
    uid = UID_BASE + slot if os.getuid() == 0 else None
    if _enter_namespaces(state, namespaces):
        _hide(hidden, state, root_user=uid is not None)
        root = _fresh_tmp(files, limits, uid)
    else:
        if uid is not None and any(_closed_ancestor(p) for p in python_paths()):
            # Without a mount namespace nothing can open Python's folder to another uid.
            state.notes.append("runs as the grader's uid: Python lives in a folder other users cannot enter")
            uid = None
        root = scratch / "submission"
        _write_files(root, files, uid)
        if uid is not None:
            os.chown(scratch, uid, uid)
            os.chmod(scratch, 0o700)  # other workers run as other uids
    state.uid = uid
    pid = os.fork()
    return pid, root, state


def lock_down(root: Path, limits: Limits, state: Confinement, device: str, threads: int,
              gpu_share: float = 1.0, gpu_index: int | None = None) -> None:
    """Step 4, in the confined child, just before the student's code is imported. On CUDA the
    allocator may take `gpu_share` of the GPU's memory: beyond it the student's code gets
    CUDA's out-of-memory error (status oom) and the workers beside it carry on. With
    `gpu_index`, the worker sees only that GPU (of those visible to the grader), as cuda:0."""
    if state.pid_namespace:
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)  # only this namespace's processes
        except OSError as e:
            state.notes.append(f"/proc not remounted ({e.strerror})")
    if state.uid is not None:
        os.setgroups([])
        os.setresgid(state.uid, state.uid, state.uid)
        os.setresuid(state.uid, state.uid, state.uid)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_PDEATHSIG, 9)  # cleared by the uid change, so set after it
    mb = 1 << 20
    if LINUX and not device.startswith("cuda"):  # CUDA reserves far more address space than it uses
        in_use = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (in_use + limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if state.uid is not None:  # per uid: only meaningful when the uid is the worker's own
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES") if k in os.environ}
    os.environ.clear()
    os.environ.update(keep, HOME=str(root), TMPDIR="/tmp", OMP_NUM_THREADS=str(threads))
    if device.startswith("cuda"):  # read when CUDA first starts, after the student's code does
        os.environ["PYTORCH_CUDA_ALLOC_CONF"] = f"per_process_memory_fraction:{min(1.0, gpu_share):.4f}"
        if gpu_index is not None:
            visible = [d for d in keep.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
            os.environ["CUDA_VISIBLE_DEVICES"] = visible[gpu_index % len(visible)] if visible else str(gpu_index)
    os.chdir(root)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)

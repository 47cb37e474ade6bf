"""The worker's file system: an allow list. A fresh tmpfs holds only what the worker's Python
needs, and the worker enters it with pivot_root(2), so nothing else of the machine exists
for it: not another checkout of the kit, not last term's submissions, not a home folder.

Three steps, so that the costly part is done once per zygote:

  plan_root()      once, in the zygote: what the root holds (data only, no mounts).
  build()          once, in the zygote's own mount namespace: the read-only part.
  worker_mounts()  per worker, in its own mount namespace: /tmp with the submission copy,
                   /dev/shm, and an empty folder over any hidden path inside the root.
  enter()          per worker, in PID 1 of its PID namespace: /proc, then pivot_root.

What the root holds (docs/security.md has the list with the reasons):

  /usr                      read-only (recursive: /usr/local/nvidia and the like come along)
  /bin /sbin /lib /lib64    the host's usr-merge links, or read-only folders where they are real
  sys.base_prefix           read-only: the interpreter and its standard library
  sys.prefix                read-only: the virtual environment (torch, numpy, ...)
  site-packages on sys.path read-only (never the script's folder, the working folder or PYTHONPATH)
  the kit's package         read-only, its checks/ covered by an empty read-only folder
  the linker's folders      read-only: folders of /etc/ld.so.cache entries and LD_LIBRARY_PATH
  /etc                      generated passwd, group, nsswitch.conf, hosts, hostname; the linker
                            cache, localtime and os-release copied; alternatives and fonts bound
  /dev                      null zero full random urandom, fd and std* links, its own shm,
                            the NVIDIA device nodes when the machine has them
  /proc                     its own, for its PID namespace
  /sys/devices/system/{cpu,node}   read-only (torch reads the CPU topology)
  /tmp                      its own tmpfs: /tmp/submission and nothing else
The root's own tmpfs is read-only once built.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.boundary import linux
from autograder.boundary.linux import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT

UID_BASE = 200_000  # workers of a root grader run as UID_BASE + their slot
NAMED_SLOTS = 256  # slots with a name in the root's /etc/passwd (getpass, torch's caches)
DEV_NODES = ("null", "zero", "full", "random", "urandom")
GPU_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
# Never bound as a whole, whatever asks for them: they hold other people's files.
NEVER_WHOLE = frozenset({"/", "/tmp", "/home", "/root", "/work", "/srv", "/var", "/opt", "/mnt", "/media",
                         "/run", "/etc", "/proc", "/sys", "/dev"})
SHM_MB = 64
ROOT_MB = 8


@dataclass
class Bind:
    source: str  # host path, symlinks resolved; it appears at the same path in the root
    device: bool = False  # a device node: stays writable (nosuid, noexec)
    is_dir: bool = True


@dataclass
class Plan:
    """What the root holds; `build` and `worker_mounts` make it."""

    binds: list[Bind] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)  # empty read-only folders over these
    symlinks: dict[str, str] = field(default_factory=dict)  # path -> link text
    files: dict[str, bytes] = field(default_factory=dict)  # generated or copied files
    gpu: list[str] = field(default_factory=list)  # the NVIDIA device nodes found

    def static_binds(self) -> list[Bind]:
        return [b for b in self.binds if not _under(b.source, "/tmp")]

    def tmp_binds(self) -> list[Bind]:
        """Binds inside /tmp (a kit cloned under /tmp): made again on each worker's own /tmp."""
        return [b for b in self.binds if _under(b.source, "/tmp")]

    def inside(self, path: str) -> bool:
        """Whether `path` lies inside something bound into the root (and is not masked)."""
        return any(_under(path, b.source) for b in self.binds) and not any(_under(path, m) for m in self.masks)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def linker_dirs() -> set[str]:
    """Folders the dynamic linker's cache points into (`ldconfig -p`) and LD_LIBRARY_PATH's:
    where a later dlopen looks (libcuda.so.1 when CUDA starts)."""
    out = ""
    for ldconfig in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=30).stdout
            break
        except (OSError, subprocess.SubprocessError):
            continue
    dirs = {os.path.realpath(os.path.dirname(line.split("=>", 1)[1].strip()))
            for line in out.splitlines() if "=>" in line}
    dirs |= {os.path.realpath(d) for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d and os.path.isdir(d)}
    return dirs


def python_dirs() -> list[str]:
    """The folders the running Python reads: sys.base_prefix, sys.prefix, the interpreter's
    folder, and the sys.path entries that belong to a Python installation (inside a prefix, or
    a site-packages / dist-packages folder). The script's folder, the working folder and
    PYTHONPATH entries are left out: the kit's root is one of them."""
    prefixes = [os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)]
    found = prefixes + [os.path.dirname(os.path.realpath(sys.executable))]
    for entry in sys.path:
        if entry and os.path.isabs(entry) and os.path.isdir(entry):
            real = os.path.realpath(entry)
            if any(_under(real, p) for p in prefixes) or os.path.basename(real) in ("site-packages", "dist-packages"):
                found.append(real)
    return [p for p in found if os.path.isdir(p)]


def _gpu_nodes(plan: Plan) -> None:
    """NVIDIA's device nodes (and MIG's capability nodes), when the machine has them. CUDA needs
    nothing else of /dev or /sys; /proc/driver/nvidia is in every proc."""
    if os.path.exists("/dev/nvidiactl") and not os.path.exists("/dev/nvidia-uvm"):
        # nvidia-uvm is made at CUDA's first use by the setuid nvidia-modprobe, which a
        # worker cannot run (no_new_privs, read-only /dev): make it now.
        try:
            subprocess.run(["nvidia-modprobe", "-u", "-c=0"], capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            pass
    nodes = [f"/dev/{n}" for n in GPU_NODES if os.path.exists(f"/dev/{n}")]
    nodes += sorted(glob.glob("/dev/nvidia[0-9]*"))
    if not nodes:
        return
    plan.binds += [Bind(n, device=True, is_dir=False) for n in nodes]
    if os.path.isdir("/dev/nvidia-caps"):
        plan.binds.append(Bind("/dev/nvidia-caps", device=True))
    plan.gpu = nodes


def _etc(plan: Plan) -> None:
    """A minimal /etc: generated files say nothing about the host; copied ones are what libc
    and Python read (the linker cache for dlopen by name, the time zone, the OS release)."""
    users = ["root:x:0:0:root:/root:/usr/sbin/nologin", "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]
    groups = ["root:x:0:", "nogroup:x:65534:"]
    for n in range(NAMED_SLOTS):  # getpwuid() of a worker's uid works (getpass, torch inductor's cache)
        users.append(f"worker{n}:x:{UID_BASE + n}:{UID_BASE + n}:worker:/tmp/submission:/usr/sbin/nologin")
        groups.append(f"worker{n}:x:{UID_BASE + n}:")
    if os.getuid() != 0:  # a non-root grader's workers keep its uid
        users.append(f"grader:x:{os.getuid()}:{os.getgid()}:grader:/tmp/submission:/usr/sbin/nologin")
        groups.append(f"grader:x:{os.getgid()}:")
    plan.files["/etc/passwd"] = ("\n".join(users) + "\n").encode()
    plan.files["/etc/group"] = ("\n".join(groups) + "\n").encode()
    plan.files["/etc/nsswitch.conf"] = b"passwd: files\ngroup: files\nshadow: files\nhosts: files\n"
    plan.files["/etc/hosts"] = b"127.0.0.1 localhost\n::1 localhost\n"
    plan.files["/etc/hostname"] = b"sandbox\n"
    for name in ("ld.so.cache", "localtime", "os-release"):
        path = f"/etc/{name}"
        if os.path.islink(path):
            plan.symlinks[path] = os.readlink(path)
        elif os.path.isfile(path):
            plan.files[path] = Path(path).read_bytes()
    # /usr/bin/c++ -> /etc/alternatives/c++ (torch.compile); fontconfig's settings (matplotlib runs fc-list).
    plan.binds += [Bind(d) for d in ("/etc/alternatives", "/etc/fonts") if os.path.isdir(d)]


def plan_root(package_dir: Path, deny: list[Path] = (), masks: tuple[str, ...] = ("checks",)) -> Plan:
    """What the worker's root holds on this machine: see the module's docstring.

    `package_dir`: the kit's package, bound with its `masks` (the checks) covered. `deny`:
    folders that must not be reachable, not even as part of a larger bind (the kit's root);
    they are never bound, and a bind that would hold one raises RuntimeError."""
    plan = Plan()
    denied = [os.path.realpath(d) for d in deny]
    wanted = ["/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{top}"
        if os.path.islink(path):
            plan.symlinks[path] = os.readlink(path)
        elif os.path.isdir(path):
            wanted.append(path)
    wanted += python_dirs() + sorted(linker_dirs())
    chosen: list[str] = []  # the topmost of nested folders
    for path in sorted(set(wanted), key=lambda p: (p.count("/"), p)):
        if path in NEVER_WHOLE or any(_under(path, c) for c in chosen) or any(_under(d, path) for d in denied):
            continue
        chosen.append(path)
    plan.binds += [Bind(p, is_dir=os.path.isdir(p)) for p in chosen]
    package = os.path.realpath(package_dir)
    if not any(_under(package, c) for c in chosen):
        plan.binds.append(Bind(package))
    plan.masks += [os.path.join(package, m) for m in masks if os.path.isdir(os.path.join(package, m))]
    _etc(plan)
    plan.binds += [Bind(f"/dev/{n}", device=True, is_dir=False) for n in DEV_NODES if os.path.exists(f"/dev/{n}")]
    plan.symlinks.update({"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
                          "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"})
    plan.binds += [Bind(s) for s in ("/sys/devices/system/cpu", "/sys/devices/system/node") if os.path.isdir(s)]
    _gpu_nodes(plan)
    for bind in plan.binds:  # the last line of defence
        for d in denied:
            if _under(d, bind.source) and not any(_under(d, m) for m in plan.masks):
                raise RuntimeError(f"the worker's root would hold {d} (inside {bind.source})")
    plan.binds.sort(key=lambda b: (b.source.count("/"), b.source))
    return plan


# --- mounting ---------------------------------------------------------------------------------


def _mount_point(path: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(path, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def _bind(bind: Bind, root: str) -> None:
    target = root + bind.source
    _mount_point(target, bind.is_dir)
    linux.mount(bind.source, target, None, MS_BIND | MS_REC)
    if bind.device:  # device nodes stay writable (/dev/null); no setuid, no exec through them
        linux.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | linux.locked_flags(target))
    else:
        linux.make_readonly(target)


def _mask(path: str, root: str) -> None:
    """An empty read-only folder over a folder, /dev/null over a file."""
    target = root + path
    if os.path.isdir(target):
        linux.mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    elif os.path.lexists(target):
        linux.mount(root + "/dev/null", target, None, MS_BIND)


def build(plan: Plan, root: str) -> None:
    """Mount the read-only part of the root at `root` (an empty folder), in a mount namespace
    whose mounts reach no one else (`private`). Ends with the root's own tmpfs read-only."""
    linux.mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={ROOT_MB}m,mode=0755")
    for folder in ("/proc", "/tmp", "/dev/shm"):
        os.makedirs(root + folder, mode=0o755, exist_ok=True)
    for bind in plan.static_binds():
        _bind(bind, root)
    for path in plan.masks:
        _mask(path, root)
    for path, text in plan.symlinks.items():
        os.makedirs(os.path.dirname(root + path), mode=0o755, exist_ok=True)
        os.symlink(text, root + path)
    for path, data in plan.files.items():
        os.makedirs(os.path.dirname(root + path), mode=0o755, exist_ok=True)
        linux.write_file(root + path, data, 0o644)
    linux.mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def private(slave: bool = False) -> None:
    """Nothing mounted from here on reaches the host (and pivot_root refuses a shared parent).
    `slave` still receives the host's later mounts (the zygote's choice)."""
    linux.mount(None, "/", None, MS_REC | (linux.MS_SLAVE if slave else linux.MS_PRIVATE))


def worker_mounts(plan: Plan, root: str, files: dict[str, bytes], tmp_mb: int, owner: int | None,
                  hidden: list[str] = ()) -> str:
    """Per worker, in its own mount namespace: a private /tmp (`tmp_mb` MiB) holding the
    submission's `files` (owned by `owner`), a private /dev/shm, and an empty folder over each
    `hidden` path that lies inside the root (defence in depth: the class or the results folder
    inside a bound folder). Returns the submission folder as the worker sees it."""
    linux.mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")
    for bind in plan.tmp_binds():
        _bind(bind, root)
    linux.mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"size={SHM_MB}m,mode=1777")
    for path in hidden:
        real = os.path.realpath(path)
        if plan.inside(real):
            _mask(real, root)
    submission = root + "/tmp/submission"
    os.mkdir(submission, 0o755)
    for rel, data in files.items():
        target = os.path.join(submission, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        linux.write_file(target, data)
    if owner is not None:
        for dirpath, _, names in os.walk(submission):
            os.chown(dirpath, owner, owner)
            for name in names:
                os.chown(os.path.join(dirpath, name), owner, owner)
    return "/tmp/submission"


def enter(root: str) -> None:
    """In PID 1 of the worker's PID namespace: its own /proc, then the switch to `root`.

    /proc must be mounted by a member of the new PID namespace, and, in a user namespace,
    while a fully visible /proc is still mounted, that is before the old root goes.
    pivot_root(".", ".") stacks the old root on top of the new one; detaching it removes every
    mount of the host in one call."""
    linux.mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    linux.pivot_root(".", ".")
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")

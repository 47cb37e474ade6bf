"""The Linux calls that confine a worker, through ctypes: namespaces, mounts, pivot_root,
capabilities, prctl. No third-party code; each call raises OSError with the errno and the
call's name ("mount /x/usr: Permission denied").

Sources: unshare(2), setns(2), mount(2), umount(2), pivot_root(2), mount_setattr(2),
capset(2), prctl(2), and user_namespaces(7) for the uid and gid maps.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

LINUX = sys.platform.startswith("linux")  # elsewhere (a student's Mac) only the resource limits apply

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MS_PRIVATE, MS_SLAVE = 1 << 18, 1 << 19
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38

# mount_setattr(2), Linux 5.12+: changes the flags of a whole mount tree in one call, and only
# the flags named, so the ones the kernel locked on a mount from a more privileged namespace
# (nosuid, nodev, noexec, atime) are left alone.
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_ENOSYS = 38
_SYSCALLS = {  # (pivot_root, capset, mount_setattr) per architecture
    "x86_64": (155, 126, 442),
    "aarch64": (41, 91, 442),
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _syscall_number(index: int, name: str) -> int:
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        raise OSError(_ENOSYS, f"{name}: not known on {platform.machine()}")
    return numbers[index]


def _path(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    """Move this thread into new namespaces (CLONE_NEW* flags). CLONE_NEWUSER needs a
    single-threaded process (EINVAL otherwise); CLONE_NEWPID applies to children forked later."""
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that the open file `fd` (/proc/PID/ns/...) refers to."""
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(_path(source), _path(target), _path(fstype), ctypes.c_ulong(flags), _path(data)),
           f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_path(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_syscall_number(0, "pivot_root"), _path(new_root), _path(put_old)), "pivot_root")


def sethostname(name: str) -> None:
    data = name.encode()
    _check(_libc.sethostname(data, len(data)), "sethostname")


def prctl(option: int, arg: int) -> None:
    """prctl(option, arg); a no-op outside Linux."""
    if LINUX:
        _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), "prctl")


def locked_flags(path: str) -> int:
    """The MS_* flags of the mount at `path` that a remount must repeat: in a user namespace
    the kernel refuses a remount that would clear nosuid, nodev, noexec or change atime."""
    have = os.statvfs(path).f_flag
    pairs = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
             (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
    return sum(ms for st, ms in pairs if have & st)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _mounts_under(target: str) -> list[str]:
    """Mount points at or below `target` (/proc/self/mountinfo; octal escapes decoded)."""
    target = target.rstrip("/") or "/"
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = line.split()[4].encode("latin-1", "surrogateescape").decode("unicode_escape")
            if point == target or point.startswith(target + "/"):
                found.append(point)
    return found


def make_readonly(target: str) -> None:
    """Make the bind mount at `target` and every mount below it read-only, nosuid, nodev.

    A bind mount ignores MS_RDONLY when it is made; a second call (MS_REMOUNT|MS_BIND|MS_RDONLY)
    changes only the top mount, and in a user namespace must repeat the locked flags.
    mount_setattr(AT_RECURSIVE) does the whole tree in one call; older kernels (ENOSYS) get
    the remount loop over /proc/self/mountinfo."""
    attrs = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV, 0, 0, 0)
    ret = _libc.syscall(_syscall_number(2, "mount_setattr"), _AT_FDCWD, _path(target),
                        ctypes.c_uint(_AT_RECURSIVE), ctypes.byref(attrs), ctypes.c_size_t(ctypes.sizeof(attrs)))
    if ret == 0:
        return
    if ctypes.get_errno() != _ENOSYS:
        _check(ret, f"mount_setattr {target}")
    for point in _mounts_under(target):
        mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | locked_flags(point))


def drop_capabilities() -> None:
    """Empty the bounding set and the effective, permitted and inheritable sets: what a worker
    does instead of changing uid where it cannot (a non-root grader's user namespace maps one
    uid only). capset(2) with _LINUX_CAPABILITY_VERSION_3 and all-zero data."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL for a capability the kernel lacks: ignored
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # version 3, this process
    data = (ctypes.c_uint32 * 6)()  # two 32-bit words each of effective, permitted, inheritable
    _check(_libc.syscall(_syscall_number(1, "capset"), header, data), "capset")


def write_file(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` (created with `mode`), without Python's buffering."""
    data = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def enter_user_namespace(extra_flags: int = 0) -> None:
    """A non-root grader's way in: a user namespace that maps its own uid and gid onto
    themselves, in which it holds every capability (user_namespaces(7)), plus `extra_flags`.
    Needs a single-threaded process: call it before torch starts its threads."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER | extra_flags)
    write_file("/proc/self/setgroups", "deny")  # required before gid_map without CAP_SETGID outside
    write_file("/proc/self/uid_map", f"{uid} {uid} 1")
    write_file("/proc/self/gid_map", f"{gid} {gid} 1")


def host_pid(pid: int | str = "self") -> int:
    """The pid of process `pid` as the host numbers it: the first NSpid field of its status in
    this /proc (mounted by the host), which is what the grader must signal. Read it before a
    /proc of a new PID namespace is mounted."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[1])
    except OSError:  # no /proc (not Linux): no PID namespaces either
        pass
    return os.getpid() if pid == "self" else int(pid)

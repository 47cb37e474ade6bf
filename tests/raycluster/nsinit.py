"""PID 1 of the Ray tests' namespace: loopback only, and nothing started inside outlives it.

    unshare --net --pid --fork --mount-proc --kill-child [--map-root-user] python nsinit.py

Brings `lo` up and refuses to go on if the namespace has any other interface; maps the
host name to 127.0.0.1 in a private /etc/hosts when it resolves elsewhere (Ray would take
that address for its node); prints "ready"; reaps the orphans that are re-parented to it;
when its stdin ends (its owner closed it, or died), sends SIGTERM to every process of the
namespace, SIGKILL a second later, and exits, which makes the kernel kill whatever is left.
Standard library only: it runs before anything is set up.
"""
import ctypes
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import time

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_BIND = 0x1000
PR_SET_PDEATHSIG = 1


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        sys.exit(f"nsinit: the namespace has interfaces besides lo: {names}")


def hostname_on_loopback(libc) -> None:
    host = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        addresses = set()
    if addresses and all(a.startswith("127.") or a == "::1" for a in addresses):
        return
    fd, path = tempfile.mkstemp(prefix="nsinit-hosts-")
    os.write(fd, f"127.0.0.1 localhost {host}\n::1 localhost\n".encode())
    os.close(fd)
    os.chmod(path, 0o644)
    failed = libc.mount(path.encode(), b"/etc/hosts", None, MS_BIND, None)
    os.unlink(path)
    if failed:
        sys.exit(f"nsinit: {host} resolves to {addresses}, and /etc/hosts could not be replaced")


def reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def others() -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit() and p != "1"]


def main() -> None:
    if os.getpid() != 1:
        sys.exit("nsinit: must be PID 1 of a new PID namespace (unshare --pid --fork)")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # unshare gone: this goes, and the namespace with it
    loopback_up()
    hostname_on_loopback(libc)
    print("ready", flush=True)
    while True:
        readable = select.select([sys.stdin], [], [], 0.5)[0]
        reap()
        if readable and not os.read(sys.stdin.fileno(), 4096):
            break
    os.kill(-1, signal.SIGTERM)  # from PID 1: every other process of the namespace
    deadline = time.monotonic() + 1.0
    while others() and time.monotonic() < deadline:
        reap()
        time.sleep(0.05)
    if others():
        os.kill(-1, signal.SIGKILL)
    reap()


if __name__ == "__main__":
    main()

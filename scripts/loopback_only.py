"""Run a command where the only network is the loopback interface: ``loopback_only.py CMD...``.

Ray's servers (GCS, raylets, object managers) listen on every interface and ``ray start``
turns a loopback ``--node-ip-address`` into the machine's outside address, so the local Ray
clusters of tests and benchmarks are started inside a new network namespace holding nothing
but ``lo``: whatever they listen on, only 127.0.0.1 reaches them, and the namespace goes
with the last process in it. Needs root, or unprivileged user namespaces.

    python scripts/loopback_only.py .venv/bin/python bench/ray_build.py ...
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import sys

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


class NamespaceError(OSError):
    """No network namespace could be made here."""


def enter() -> None:
    """Move this process into a new network namespace and bring its loopback up."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWNET) != 0:
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:  # not root: a user namespace too
            err = ctypes.get_errno()
            raise NamespaceError(err, f"cannot make a network namespace ({os.strerror(err)}); "
                                 "run as root or enable unprivileged user namespaces")
        with open("/proc/self/setgroups", "w") as fh:
            fh.write("deny")
        with open("/proc/self/uid_map", "w") as fh:
            fh.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as fh:
            fh.write(f"{gid} {gid} 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    try:
        enter()
    except OSError as exc:
        sys.exit(f"loopback_only: {exc}")
    os.execvp(sys.argv[1], sys.argv[1:])

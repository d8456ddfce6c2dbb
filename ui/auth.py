"""Logins for a shared chat: a file of user names with salted password hashes.

One user a line, ``name:scrypt$n$r$p$salt$hash`` (salt and hash in base64). scrypt is in the
standard library, memory-hard and salted per user, so a stolen file does not give the
passwords away cheaply; the comparison takes constant time. The file is written with mode
0600 and replaced atomically.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

#: scrypt cost: 2**14 x 8 x 1 takes ~50 ms and 16 MB per check on our machines.
N, R, P = 2**14, 8, 1
MIN_PASSWORD = 8
_NAME = re.compile(r"^[\w.@-]{1,64}$")


class AuthError(ValueError):
    """The login file or a user entry is unusable; the message says how to fix it."""


def default_auth_path() -> Path:
    """``$XDG_DATA_HOME/daleel/users`` (``~/.local/share/daleel/users``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "daleel" / "users"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=32)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)])


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def read_users(path: str | Path) -> dict[str, str]:
    """User name -> stored hash. Raises AuthError when the file is missing or malformed."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AuthError(f"login file {path} not found; create it with `daleel user add NAME "
                        f"--auth-file {path}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read login file {path} ({exc})") from None
    users: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not _NAME.match(name) or not stored.startswith("scrypt$"):
            raise AuthError(f"{path}:{n}: not a 'name:scrypt$...' line; remove it or re-add "
                            "that user with `daleel user add NAME`")
        users[name] = stored
    if not users:
        raise AuthError(f"login file {path} has no users; add one with `daleel user add NAME`")
    return users


def add_user(path: str | Path, name: str, password: str) -> bool:
    """Add ``name`` (or replace its password); True when the user is new."""
    if not _NAME.match(name):
        raise AuthError(f"user name {name!r} must be 1-64 letters, digits or . _ @ -")
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password must be at least {MIN_PASSWORD} characters long")
    path = Path(path)
    users = read_users(path) if path.exists() else {}
    new = name not in users
    users[name] = hash_password(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{u}:{h}\n" for u, h in users.items()))
    os.replace(tmp, path)
    return new


class Logins:
    """The check Gradio calls at login: ``Logins(path)(name, password) -> bool``. The file is
    read again when it changes, so a user added while the chat runs can log in."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._users = self._load()
        self._unknown = hash_password("x" * MIN_PASSWORD)  # checked for unknown names

    def _load(self) -> dict[str, str]:
        stat = self.path.stat() if self.path.exists() else None
        self._stamp = (stat.st_mtime_ns, stat.st_size) if stat else None
        return read_users(self.path)

    def __call__(self, name: str, password: str) -> bool:
        try:
            stat = self.path.stat()
            if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                self._users = self._load()
        except (OSError, AuthError):
            pass  # keep the users read last; the file is being replaced or was damaged
        stored = self._users.get(name)
        if stored is None:
            check_password(password, self._unknown)  # as slow as for a known name
            return False
        return check_password(password, stored)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

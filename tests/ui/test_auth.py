"""Logins for the shared chat (ui/auth.py) and the serve guard (ui/server.py); no model."""

from __future__ import annotations

import os
import stat

import pytest

from daleel_cli import main
from ui import auth
from ui.server import is_loopback, serve


def test_passwords_are_salted_and_checked() -> None:
    a, b = auth.hash_password("كلمة-سر-طويلة"), auth.hash_password("كلمة-سر-طويلة")
    assert a != b and a.startswith("scrypt$")  # a salt of its own each time
    assert auth.check_password("كلمة-سر-طويلة", a) and auth.check_password("كلمة-سر-طويلة", b)
    assert not auth.check_password("كلمة-سر-خطأ", a)
    assert not auth.check_password("x", "md5$nothing") and not auth.check_password("x", "junk")


def test_add_user_writes_a_private_file_and_logins_follow_it(tmp_path) -> None:
    path = tmp_path / "users"
    assert auth.add_user(path, "mona", "password-1")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "password-1" not in path.read_text(encoding="utf-8")
    logins = auth.Logins(path)
    assert logins("mona", "password-1") and not logins("mona", "password-2")
    assert not logins("nobody", "password-1")
    assert not auth.add_user(path, "mona", "password-2")  # a new password, same user
    auth.add_user(path, "sami", "password-3")
    assert logins("mona", "password-2") and logins("sami", "password-3")  # file re-read
    assert not logins("mona", "password-1")


def test_bad_users_and_files_say_what_to_do(tmp_path) -> None:
    with pytest.raises(auth.AuthError, match="at least 8"):
        auth.add_user(tmp_path / "u", "mona", "short")
    with pytest.raises(auth.AuthError, match="user name"):
        auth.add_user(tmp_path / "u", "a b:c", "password-1")
    with pytest.raises(auth.AuthError, match="daleel user add"):
        auth.read_users(tmp_path / "missing")
    (tmp_path / "bad").write_text("mona:plaintext\n", encoding="utf-8")
    with pytest.raises(auth.AuthError, match=r"bad:1"):
        auth.read_users(tmp_path / "bad")


def test_user_add_command_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("password-1\n"))
    path = tmp_path / "users"
    assert main(["user", "add", "mona", "--auth-file", str(path), "--password-stdin"]) == 0
    assert "Added mona" in capsys.readouterr().out
    assert auth.Logins(path)("mona", "password-1")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "sami", "--auth-file", str(path), "--password-stdin"]) == 2
    assert "at least 8" in capsys.readouterr().err


def test_a_public_address_needs_a_login_or_no_auth(tmp_path, capsys) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    # refused before anything loads (the index does not even exist)
    with pytest.raises(PermissionError, match="--auth-file"):
        serve(tmp_path / "no-index", host="0.0.0.0")
    assert main(["serve", "--index", str(tmp_path / "no-index"), "--host", "0.0.0.0"]) == 2
    assert "without a login" in capsys.readouterr().err

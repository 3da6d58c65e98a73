"""Operator accounts: creation from the command line, password login with a lockout."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from ..errors import Conflict, Invalid
from ..models import Admin, DbSession

USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{2,39}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def create_admin(session: DbSession, username: str, password: str, *, name: str = "") -> Admin:
    """Add an operator; usernames are case-insensitive and unique."""
    username = username.strip()
    problems: dict[str, str] = {}
    if not USERNAME.match(username):
        problems["username"] = "用户名须以字母开头，3–40 位字母、数字或 _ . -"
    if len(password) < MIN_PASSWORD:
        problems["password"] = f"密码至少 {MIN_PASSWORD} 位"
    if problems:
        raise Invalid(fields=problems)
    if find_admin(session, username) is not None:
        raise Conflict(f"用户名 {username} 已存在")
    admin = Admin(username=username, name=name.strip(), password_hash=_hasher.hash(password))
    session.add(admin)
    session.commit()
    return admin


def set_password(session: DbSession, admin: Admin, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(fields={"password": f"密码至少 {MIN_PASSWORD} 位"})
    admin.password_hash = _hasher.hash(password)
    admin.failed_logins, admin.locked_until = 0, None
    session.commit()


def find_admin(session: DbSession, username: str) -> Admin | None:
    return session.scalars(select(Admin).where(func.lower(Admin.username) == username.strip().lower())).one_or_none()


def authenticate(
    session: DbSession,
    username: str,
    password: str,
    *,
    max_failures: int,
    lock_minutes: int,
    now: datetime | None = None,
) -> Admin:
    """The operator with these credentials, or Invalid with one message for every
    failure (unknown name, wrong password, disabled, locked) so names cannot be probed.
    ``max_failures`` wrong passwords in a row lock the account for ``lock_minutes``."""
    now = now or datetime.now(UTC)
    refused = Invalid("用户名或密码错误，或账号已被锁定", fields={"password": "用户名或密码错误"})
    admin = find_admin(session, username)
    if admin is None:
        _verify(_DUMMY_HASH, password)
        raise refused
    if admin.locked_until is not None and admin.locked_until > now:
        raise refused
    if not _verify(admin.password_hash, password) or not admin.active:
        admin.failed_logins += 1
        if admin.failed_logins >= max_failures:
            admin.locked_until = now + timedelta(minutes=lock_minutes)
            admin.failed_logins = 0
        session.commit()
        raise refused
    admin.failed_logins, admin.locked_until, admin.last_login_at = 0, None, now
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = _hasher.hash(password)
    session.commit()
    return admin


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

"""Agent accounts: registration with an invite code, login with lockout, real-name
verification, shop settings."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import CardshopError, Conflict, Invalid
from ..models import Agent, DbSession
from ..passwords import hasher
from ..validation import (
    age_on,
    id_card_problem,
    mask_id_card,
    mobile_problem,
    name_problem,
    normalize_id_card,
    normalize_mobile,
)
from .wallets import ensure_wallets

_SHOP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
PASSWORD_MIN = 8
AGENT_MIN_AGE = 18


class LoginFailed(CardshopError):
    code = "login_failed"
    status = 401
    message = "手机号或密码错误"


class LoginLocked(CardshopError):
    code = "login_locked"
    status = 429
    message = "登录失败次数过多，账号已临时锁定"


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lock_minutes: int = 30


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"密码至少 {PASSWORD_MIN} 位"
    if len(password) > 64:
        return "密码不能超过 64 位"
    if not (re.search(r"[A-Za-z]", password) and re.search(r"[0-9]", password)):
        return "密码须同时包含字母和数字"
    return None


def find_referrer(session: DbSession, code: str) -> Agent | None:
    """The agent an invite code (or a phone number) names, if active."""
    code = code.strip()
    if not code:
        return None
    found = session.scalars(
        select(Agent).where(or_(Agent.invite_code == code, Agent.phone == normalize_mobile(code)))
    ).first()
    return found if found is not None and found.active else None


def register(session: DbSession, phone: str, password: str, invite: str) -> Agent:
    """Open an account; the referrer becomes the upline. One account per phone number."""
    phone = normalize_mobile(phone)
    problems: dict[str, str] = {}
    if (message := mobile_problem(phone)) is not None:
        problems["phone"] = message
    if (message := password_problem(password)) is not None:
        problems["password"] = message
    referrer = find_referrer(session, invite)
    if referrer is None:
        problems["invite"] = "邀请码无效，请向推荐人确认"
    if problems:
        raise Invalid(fields=problems)
    if session.scalars(select(Agent.id).where(Agent.phone == phone)).first() is not None:
        raise Invalid(fields={"phone": "该手机号已注册，请直接登录"})
    assert referrer is not None
    for _attempt in range(5):
        agent = Agent(
            phone=phone,
            password_hash=hasher.hash(password),
            invite_code=f"{secrets.randbelow(10**6):06d}",
            shop_code="".join(secrets.choice(_SHOP_ALPHABET) for _ in range(8)),
            shop_name=f"{phone[-4:]}号卡小店",
            upline_id=referrer.id,
        )
        session.add(agent)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            if session.scalars(select(Agent.id).where(Agent.phone == phone)).first() is not None:
                raise Invalid(fields={"phone": "该手机号已注册，请直接登录"}) from None
            continue  # an invite or shop code collided; draw new ones
        ensure_wallets(session, [agent.id])
        session.commit()
        return agent
    raise Conflict("注册繁忙，请重试")


def authenticate(
    session: DbSession, phone: str, password: str, policy: LoginPolicy, now: datetime | None = None
) -> Agent:
    """The agent these credentials belong to; counts failures and locks the account."""
    now = now or datetime.now(UTC)
    agent = session.scalars(select(Agent).where(Agent.phone == normalize_mobile(phone))).first()
    if agent is None:
        _verify(_dummy_hash(), password)  # a wrong phone costs as long as a wrong password
        raise LoginFailed()
    if agent.locked_until is not None and agent.locked_until > now:
        raise _locked(agent.locked_until, now)
    if not agent.password_hash or not _verify(agent.password_hash, password):
        _count_failure(session, agent, policy, now)
        raise LoginFailed(_failure_message(agent, policy))
    if not agent.active:
        raise LoginFailed("账号已停用，请联系平台")
    agent.failed_logins, agent.locked_until, agent.last_login_at = 0, None, now
    if hasher.check_needs_rehash(agent.password_hash):
        agent.password_hash = hasher.hash(password)
    session.commit()
    return agent


@cache
def _dummy_hash() -> str:
    return hasher.hash(secrets.token_hex(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _count_failure(session: DbSession, agent: Agent, policy: LoginPolicy, now: datetime) -> None:
    # One UPDATE, so failures from parallel requests all count.
    session.execute(
        update(Agent)
        .where(Agent.id == agent.id)
        .values(failed_logins=Agent.failed_logins + 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Agent)
        .where(Agent.id == agent.id, Agent.failed_logins >= policy.max_failures)
        .values(failed_logins=0, locked_until=now + timedelta(minutes=policy.lock_minutes))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(agent)


def _failure_message(agent: Agent, policy: LoginPolicy) -> str:
    if agent.locked_until is not None:
        return f"登录失败次数过多，账号已锁定 {policy.lock_minutes} 分钟"
    left = policy.max_failures - agent.failed_logins
    return f"手机号或密码错误，再错 {left} 次账号将锁定 {policy.lock_minutes} 分钟"


def _locked(until: datetime, now: datetime) -> LoginLocked:
    minutes = max(1, int((until - now).total_seconds() // 60) + 1)
    return LoginLocked(f"登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试")


def set_password(session: DbSession, agent: Agent, password: str) -> Agent:
    """Set a new password (operators, for the demo root or a locked-out agent); clears the lock."""
    if (message := password_problem(password)) is not None:
        raise Invalid(message, fields={"password": message})
    agent.password_hash = hasher.hash(password)
    agent.failed_logins, agent.locked_until = 0, None
    session.commit()
    return agent


def id_card_digest(id_card: str, secret: str) -> str:
    """A keyed digest: finds a reused ID number without keeping the number."""
    key = hashlib.sha256(f"agent-id-card:{secret}".encode()).digest()
    return hmac.new(key, normalize_id_card(id_card).encode(), hashlib.sha256).hexdigest()


def verify_identity(
    session: DbSession, agent: Agent, name: str, id_card: str, *, secret: str, today: date | None = None
) -> Agent:
    """Real-name verification (实名): one ID number, one agent account, adults only.

    Only the masked number and a keyed digest are stored; the number itself is not."""
    today = today or datetime.now(UTC).date()
    if agent.verified:
        raise Conflict("已完成实名认证")
    name, id_card = name.strip(), normalize_id_card(id_card)
    problems: dict[str, str] = {}
    if (message := name_problem(name)) is not None:
        problems["name"] = message
    if (message := id_card_problem(id_card, today=today)) is not None:
        problems["id_card"] = message
    elif age_on(id_card, today) < AGENT_MIN_AGE:
        problems["id_card"] = f"代理须年满 {AGENT_MIN_AGE} 周岁"
    if problems:
        raise Invalid(fields=problems)
    digest = id_card_digest(id_card, secret)
    if session.scalars(select(Agent.id).where(Agent.id_card_digest == digest, Agent.id != agent.id)).first():
        raise Invalid(fields={"id_card": "该身份证号已认证过其他代理账号"})
    agent.name, agent.id_card_masked, agent.id_card_digest = name, mask_id_card(id_card), digest
    agent.verified, agent.verified_at = True, datetime.now(UTC)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Invalid(fields={"id_card": "该身份证号已认证过其他代理账号"}) from None
    return agent


def rename_shop(session: DbSession, agent: Agent, shop_name: str) -> Agent:
    shop_name = shop_name.strip()
    if not 2 <= len(shop_name) <= 20:
        raise Invalid(fields={"shop_name": "店铺名称为 2–20 个字"})
    agent.shop_name = shop_name
    session.commit()
    return agent

"""Withdrawals (提现): settled money out to the agent's account.

Two requests submitted at once can never both take the same money (I6): the request
holds the agent's Redlock, and inside it the money leaves the settled bucket in one
guarded UPDATE (``settled >= amount`` and the interval rule in the same statement), so
even a lock lost mid-request cannot overdraw.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update

from ..errors import Conflict, Invalid, NotFound
from ..models import Agent, DbSession, Wallet, Withdrawal
from .wallets import InsufficientBalance, Move, ensure_wallets, transfer

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAYOUT_METHODS = {"alipay": "支付宝", "bank": "银行卡"}

# resource -> a context manager holding that resource's lock (LockManager.hold).
LockHolder = Callable[[str], AbstractContextManager[Any]]


@dataclass(frozen=True)
class Policy:
    min_fen: int = 1000
    fee_permille: int = 60
    interval_days: int = 7


@dataclass(frozen=True)
class Quote:
    amount_fen: int
    fee_fen: int
    net_fen: int


def quote(amount_fen: int, policy: Policy) -> Quote:
    """The fee (rounded half up to the fen) and what reaches the agent."""
    fee = (amount_fen * policy.fee_permille + 500) // 1000
    return Quote(amount_fen, fee, amount_fen - fee)


def parse_yuan(raw: str) -> int:
    """ "123.45" yuan -> 12345 fen; at most two decimals."""
    text = raw.strip().replace(",", "").replace("¥", "")
    if not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", text):
        raise Invalid(fields={"amount": "请输入正确的金额，最多两位小数"})
    yuan, _, cents = text.partition(".")
    return int(yuan) * 100 + int((cents + "00")[:2])


def check_request(
    agent: Agent, wallet: Wallet, amount_fen: int, *, policy: Policy, now: datetime, method: str, account: str
) -> None:
    """Refuse what cannot succeed, with a reason the agent can act on."""
    if not agent.verified:
        raise Conflict("请先完成实名认证再提现")
    if method not in PAYOUT_METHODS:
        raise Invalid(fields={"payout_method": "请选择收款方式"})
    if not re.fullmatch(r"[0-9A-Za-z@._\-]{5,40}", account.strip()):
        raise Invalid(fields={"payout_account": "请填写正确的支付宝账号或银行卡号"})
    if amount_fen < policy.min_fen:
        raise Invalid(fields={"amount": f"单笔最低提现 {policy.min_fen / 100:.2f} 元"})
    if amount_fen > wallet.settled:
        raise Invalid(fields={"amount": f"超过可提现余额 {wallet.settled / 100:.2f} 元"})
    next_allowed = next_withdrawal_at(wallet, policy)
    if next_allowed is not None and next_allowed > now:
        raise Conflict(f"每 {policy.interval_days} 天可提现一次，下次可提现时间：{_shanghai(next_allowed)}")


def next_withdrawal_at(wallet: Wallet, policy: Policy) -> datetime | None:
    if wallet.last_withdrawal_at is None:
        return None
    return wallet.last_withdrawal_at + timedelta(days=policy.interval_days)


def _shanghai(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def request_withdrawal(
    session: DbSession,
    hold: LockHolder,
    agent: Agent,
    amount_fen: int,
    *,
    policy: Policy,
    method: str,
    account: str,
    now: datetime | None = None,
) -> Withdrawal:
    """Take ``amount_fen`` out of the settled balance into a withdrawal request.

    Raises Invalid/Conflict with the reason, Busy when the agent's lock is not won."""
    with hold(f"agent:{agent.id}"):
        return take_for_withdrawal(session, agent, amount_fen, policy=policy, method=method, account=account, now=now)


def take_for_withdrawal(
    session: DbSession,
    agent: Agent,
    amount_fen: int,
    *,
    policy: Policy,
    method: str,
    account: str,
    now: datetime | None = None,
) -> Withdrawal:
    """The guarded write itself (the lock is the caller's): correct even without it."""
    now = now or datetime.now(UTC)
    ensure_wallets(session, [agent.id])
    session.commit()
    session.expire_all()
    wallet = session.get(Wallet, agent.id)
    assert wallet is not None
    check_request(agent, wallet, amount_fen, policy=policy, now=now, method=method, account=account)
    _claim_interval(session, agent.id, amount_fen, now, policy)
    price = quote(amount_fen, policy)
    withdrawal = Withdrawal(
        agent_id=agent.id,
        amount_fen=amount_fen,
        fee_fen=price.fee_fen,
        net_fen=price.net_fen,
        payout_method=method,
        payout_account=account.strip(),
        payout_name=agent.name,
        status="requested",
        created_at=now,
    )
    session.add(withdrawal)
    session.flush()
    try:
        transfer(session, agent.id, "settled", "withdrawing", amount=amount_fen, cause=_cause("withdraw", withdrawal))
    except InsufficientBalance:
        session.rollback()
        raise
    session.commit()
    return withdrawal


def _claim_interval(session: DbSession, agent_id: int, amount_fen: int, now: datetime, policy: Policy) -> None:
    """Stamp this request on the wallet, in one UPDATE that also re-checks the balance
    and the interval; a concurrent request that got there first makes it match nothing."""
    cutoff = now - timedelta(days=policy.interval_days)
    taken = session.execute(
        update(Wallet)
        .where(
            Wallet.agent_id == agent_id,
            Wallet.settled >= amount_fen,
            or_(Wallet.last_withdrawal_at.is_(None), Wallet.last_withdrawal_at <= cutoff),
        )
        .values(last_withdrawal_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("余额已变动或本周期已提现，请刷新后重试")


def _cause(kind: str, withdrawal: Withdrawal) -> Move:
    return Move(kind, withdrawal_id=withdrawal.id, note=f"提现单 {withdrawal.id}")


def _decide(session: DbSession, withdrawal_id: int, source: tuple[str, ...], target: str, **values: Any) -> Withdrawal:
    """Move a withdrawal between statuses with a conditional UPDATE (a decision is made once)."""
    withdrawal = session.get(Withdrawal, withdrawal_id)
    if withdrawal is None:
        raise NotFound("没有该提现单")
    result = session.execute(
        update(Withdrawal)
        .where(Withdrawal.id == withdrawal_id, Withdrawal.status.in_(source))
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict(f"提现单 {withdrawal_id} 当前为「{withdrawal.status_label}」，不能改为该状态")
    return withdrawal


def approve(session: DbSession, withdrawal_id: int, operator: str) -> Withdrawal:
    withdrawal = _decide(
        session, withdrawal_id, ("requested",), "approved", operator=operator, decided_at=datetime.now(UTC)
    )
    session.commit()
    session.refresh(withdrawal)
    return withdrawal


def reject(session: DbSession, withdrawal_id: int, operator: str, reason: str) -> Withdrawal:
    """Refuse it: the money returns to the settled balance and the interval starts over."""
    if not reason.strip():
        raise Invalid(fields={"reason": "请填写驳回原因"})
    now = datetime.now(UTC)
    withdrawal = _decide(
        session,
        withdrawal_id,
        ("requested", "approved"),
        "rejected",
        operator=operator,
        reason=reason.strip(),
        decided_at=now,
    )
    cause = _cause("withdraw_reject", withdrawal)
    transfer(session, withdrawal.agent_id, "withdrawing", "settled", amount=withdrawal.amount_fen, cause=cause)
    earlier = session.scalar(
        select(Withdrawal.created_at)
        .where(
            Withdrawal.agent_id == withdrawal.agent_id, Withdrawal.id != withdrawal.id, Withdrawal.status != "rejected"
        )
        .order_by(Withdrawal.created_at.desc())
        .limit(1)
    )
    session.execute(update(Wallet).where(Wallet.agent_id == withdrawal.agent_id).values(last_withdrawal_at=earlier))
    session.commit()
    session.refresh(withdrawal)
    return withdrawal


def mark_paid(session: DbSession, withdrawal_id: int, operator: str, reference: str) -> Withdrawal:
    """The transfer went out: the money moves from withdrawing to withdrawn."""
    if not reference.strip():
        raise Invalid(fields={"reference": "请填写打款流水号"})
    withdrawal = _decide(
        session,
        withdrawal_id,
        ("approved",),
        "paid",
        operator=operator,
        reference=reference.strip(),
        paid_at=datetime.now(UTC),
    )
    cause = _cause("withdraw_paid", withdrawal)
    transfer(session, withdrawal.agent_id, "withdrawing", "withdrawn", amount=withdrawal.amount_fen, cause=cause)
    session.commit()
    session.refresh(withdrawal)
    return withdrawal

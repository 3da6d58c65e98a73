"""Moving money between an agent's wallet buckets, one ledger entry per change.

Every change is a single guarded UPDATE ... RETURNING: the database itself refuses a
bucket going below zero (I6), and the returned balance is the one this transaction
wrote, so the entry's before/after are exact even with concurrent writers (the UPDATE
holds the row until commit). Callers that touch several wallets do so in ascending
agent id, so two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import Conflict
from ..models import BUCKETS, DbSession, LedgerEntry, Wallet


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    message = "余额不足"


@dataclass(frozen=True)
class Move:
    """Links a ledger entry to what caused it."""

    kind: str
    order_id: int | None = None
    line_id: int | None = None
    withdrawal_id: int | None = None
    note: str = ""


def ensure_wallets(session: DbSession, agent_ids: Iterable[int]) -> None:
    """Create missing wallets; safe against a concurrent creator (ON CONFLICT DO NOTHING)."""
    ids = sorted(set(agent_ids))
    if not ids:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect not in {"postgresql", "sqlite"}:
        existing = set(session.scalars(select(Wallet.agent_id).where(Wallet.agent_id.in_(ids))))
        session.add_all(Wallet(agent_id=agent_id) for agent_id in ids if agent_id not in existing)
        session.flush()
        return
    session.execute(insert(Wallet).values([{"agent_id": agent_id} for agent_id in ids]).on_conflict_do_nothing())


def move(session: DbSession, agent_id: int, bucket: str, delta: int, *, cause: Move) -> LedgerEntry | None:
    """Add ``delta`` to one bucket and append the ledger entry; None when delta is 0.

    Raises InsufficientBalance when the bucket would go below zero; nothing changes then."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket}")
    if delta == 0:
        return None
    column = getattr(Wallet, bucket)
    statement = update(Wallet).where(Wallet.agent_id == agent_id).values({column: column + delta}).returning(column)
    if delta < 0:
        statement = statement.where(column >= -delta)
    after = session.execute(statement.execution_options(synchronize_session=False)).scalar_one_or_none()
    if after is None:
        raise InsufficientBalance()
    entry = LedgerEntry(
        agent_id=agent_id,
        kind=cause.kind,
        bucket=bucket,
        delta=delta,
        balance_before=after - delta,
        balance_after=after,
        order_id=cause.order_id,
        line_id=cause.line_id,
        withdrawal_id=cause.withdrawal_id,
        note=cause.note,
    )
    session.add(entry)
    return entry


def transfer(session: DbSession, agent_id: int, source: str, target: str, *, amount: int, cause: Move) -> None:
    """Move ``amount`` from one bucket to another: two entries, one per bucket."""
    move(session, agent_id, source, -amount, cause=cause)
    move(session, agent_id, target, amount, cause=cause)


def wallet(session: DbSession, agent_id: int) -> Wallet:
    """The agent's wallet for display; an agent who never earned gets an empty one (not saved)."""
    found = session.get(Wallet, agent_id)
    if found is None:
        found = Wallet(agent_id=agent_id, **{bucket: 0 for bucket in BUCKETS})
    return found

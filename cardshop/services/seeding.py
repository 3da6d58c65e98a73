"""The large data set behind ``flask cardshop seed-large``: a year of a busy platform.

10,000 agents in a referral tree under the demo root, about a million orders from
customers who each bought one to three cards, every order with its status timeline,
commission lines and the ledger entries they moved, and stock counters that agree with
it all. Rows go in by chunks (executemany on SQLite, COPY on PostgreSQL, see
bulk_insert), so a million orders take minutes, not hours. Run it on a quiet database: wallets are continued from their
balances when the seed starts.
"""

from __future__ import annotations

import gc
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from sqlalchemy import Connection, Engine, Index, Table, func, select, text, update
from sqlalchemy.schema import DropIndex

from ..errors import Conflict
from ..models import (
    BUCKETS,
    Agent,
    CommissionLine,
    DbSession,
    LedgerEntry,
    Order,
    OrderEvent,
    PhoneNumber,
    Product,
    StockEntry,
    Wallet,
)
from ..stock import StockService
from .bulk_insert import BulkWriter, table
from .commissions import Link
from .demo import load_demo
from .seed_history import History, OrderSpec
from .seed_people import SeedAgent, addresses, agent_tree, customer

# How popular each demo plan is; plans added by operators sell at the default weight.
PRODUCT_WEIGHTS = {
    "CM-HUAXIA-29": 30,
    "CU-DAWANG-19": 30,
    "CT-XINGYAO-29": 15,
    "CB-192-39": 10,
    "CM-STUDENT-9": 8,
    "CU-FLASH-1": 4,
    "CT-SOLD-19": 3,
}
DEFAULT_WEIGHT = 5
ID_TABLES = (Agent, Order, OrderEvent, PhoneNumber, CommissionLine, LedgerEntry)
BULK_TABLES = (Order, OrderEvent, PhoneNumber, CommissionLine, LedgerEntry)


@dataclass(frozen=True)
class Plan:
    orders: int = 1_000_000
    agents: int = 10_000
    seed: int = 168
    months: int = 12
    direct_share: float = 0.08  # orders placed on the platform's own page, no shop
    chunk: int = 10_000


@dataclass(frozen=True)
class SeedProduct:
    """What the seed needs of a product, read once (the rows are written outside the ORM)."""

    id: int
    sku: str
    carrier: str
    monthly_fee_fen: int
    number_selectable: bool
    commission_fen: tuple[int, ...]
    min_age: int
    max_age: int

    @classmethod
    def of(cls, product: Product) -> SeedProduct:
        return cls(
            product.id,
            product.sku,
            product.carrier,
            product.monthly_fee_fen,
            product.number_selectable,
            tuple(product.commission_fen or ()),
            product.min_age,
            product.max_age,
        )


@dataclass(frozen=True)
class Root:
    """The platform's top agent (demo invite code 00168): sells from its own shop too."""

    id: int
    phone: str
    shop_code: str


@dataclass
class Report:
    agents: int = 0
    customers: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    busiest: list[tuple[str, str, int]] = field(default_factory=list)  # (phone, shop code, orders)
    seconds: float = 0.0


Progress = Callable[[str], None]


def seed_large(
    session: DbSession,
    stock: StockService,
    plan: Plan,
    *,
    secret: str,
    now: datetime | None = None,
    progress: Progress = lambda _message: None,
) -> Report:
    """Add the large data set; refuses a seed already applied. Returns what was written."""
    began = time.perf_counter()
    # Naive UTC from here on (see seed_history): cheaper to compare and format by millions.
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    tag = f"seed{plan.seed}"
    if session.scalars(select(Order.id).where(Order.idempotency_key.like(f"{tag}-%")).limit(1)).first():
        raise Conflict(f"seed {plan.seed} is already in this database; pass another --seed")
    products = [SeedProduct.of(p) for p in [p for p in load_demo(session) if p.listed] + _other_listed(session)]
    rng = random.Random(plan.seed)  # noqa: S311 - reproducible test data, not secrets
    start = now - timedelta(days=round(365 * plan.months / 12))
    first_ids = {table(model).name: _next_id(session, model) for model in ID_TABLES}
    found = session.scalars(select(Agent).where(Agent.invite_code == "00168")).one()
    root = Root(found.id, found.phone, found.shop_code)
    taken = set(session.scalars(select(Agent.phone)))
    known = session.execute(select(Agent.id, Agent.upline_id, Agent.level, Agent.active))
    tree = {agent_id: (upline_id, level, active) for agent_id, upline_id, level, active in known}
    balances = _wallet_balances(session)
    session.commit()
    session.close()

    first_agent = first_ids["agents"]
    agents = agent_tree(rng, plan.agents, root_id=root.id, first_id=first_agent, start=start, taken_phones=taken)
    tree.update({agent.id: (agent.upline_id, agent.level, True) for agent in agents})
    report = Report(agents=len(agents))
    engine = session.get_bind()
    assert isinstance(engine, Engine), "seed-large needs the session bound to an engine"
    with engine.connect() as connection, _collector_paused():
        _fast_writes(connection)
        with connection.begin(), BulkWriter(connection, plan.chunk) as writer:
            deferred = _drop_secondary_indexes(connection)
            for agent in agents:
                writer.add(table(Agent), agent.row(secret))
            writer.flush()
            progress(f"{len(agents)} agents")
            specs, report.customers = _order_specs(
                rng, plan, agents=agents, root=root, products=products, start=start, now=now
            )
            progress(f"{len(specs)} orders from {report.customers} customers planned")
            shop_codes = {agent.id: agent.shop_code for agent in agents} | {root.id: root.shop_code}
            history = History(
                writer, rng, now=now, chains=_chains(tree), first_ids=first_ids, balances=balances,
                shop_codes=shop_codes, tag=tag,
            )  # fmt: skip
            for index, spec in enumerate(specs):
                history.add(index, spec)
                if (index + 1) % 100_000 == 0:
                    progress(f"{index + 1} orders written ({time.perf_counter() - began:.0f}s)")
            history.finish()
            progress(f"{len(specs)} orders written ({time.perf_counter() - began:.0f}s)")
            _write_wallets(connection, writer, balances, {agent.id for agent in agents})
            for dropped in deferred:
                dropped.create(connection)
            progress(f"{len(deferred)} indexes rebuilt ({time.perf_counter() - began:.0f}s)")
        report.rows, report.statuses = writer.written, history.statuses
    progress(f"committed ({time.perf_counter() - began:.0f}s)")
    _count_stock(session, history.live_qty, tag)
    _advance_sequences(session)
    _analyze(session)
    progress(f"statistics updated ({time.perf_counter() - began:.0f}s)")
    stock.reconcile(actor="seed-large")
    report.busiest = _busiest(specs, agents, root)
    report.seconds = time.perf_counter() - began
    return report


def _other_listed(session: DbSession) -> list[Product]:
    known = set(PRODUCT_WEIGHTS)
    query = select(Product).where(Product.listed.is_(True)).order_by(Product.id)
    return [product for product in session.scalars(query) if product.sku not in known]


def _next_id(session: DbSession, model: type) -> int:
    return int(session.scalar(select(func.coalesce(func.max(table(model).c.id), 0))) or 0) + 1


def _wallet_balances(session: DbSession) -> dict[tuple[int, str], int]:
    balances = {}
    for wallet in session.scalars(select(Wallet)):
        for bucket in BUCKETS:
            balances[(wallet.agent_id, bucket)] = wallet.balance(bucket)
    return balances


def _fast_writes(connection: Connection) -> None:
    """SQLite: skip the fsync per commit while seeding (a crash means re-seeding anyway)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA synchronous=OFF")
        connection.exec_driver_sql("PRAGMA cache_size=-262144")
        connection.commit()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the rows are made: the seed builds tens of
    millions of acyclic tuples, and each full collection would walk all those still alive."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _drop_secondary_indexes(connection: Connection) -> list[Index]:
    """Drop the non-unique indexes of the tables the seed fills; returns them to rebuild.

    Building an index once over sorted keys is much cheaper than updating it for every
    row inserted. Unique constraints stay: they guard the data while it goes in. In the
    seed's transaction, so a failed seed leaves the indexes as they were."""
    indexes = [index for model in BULK_TABLES for index in table(model).indexes if not index.unique]
    for index in indexes:
        connection.execute(DropIndex(index, if_exists=True))
    return indexes


def _chains(tree: dict[int, tuple[int | None, int, bool]]) -> Callable[[int], list[Link]]:
    """The seller and their active uplines, as commissions.snapshot_chain reads them."""
    cache: dict[int, list[Link]] = {}

    def chain(agent_id: int) -> list[Link]:
        if agent_id not in cache:
            upline_id, level, _active = tree[agent_id]
            links, seen = [Link(agent_id, level)], {agent_id}
            while upline_id is not None and upline_id not in seen and upline_id in tree:
                seen.add(upline_id)
                next_upline, upline_level, active = tree[upline_id]
                if active:
                    links.append(Link(upline_id, upline_level))
                upline_id = next_upline
            cache[agent_id] = links
        return cache[agent_id]

    return chain


def _order_specs(
    rng: random.Random,
    plan: Plan,
    *,
    agents: list[SeedAgent],
    root: Root,
    products: list[SeedProduct],
    start: datetime,
    now: datetime,
) -> tuple[list[OrderSpec], int]:
    """Who bought what, when, through whose shop; oldest first. Returns (specs, customers)."""
    sellers: list[tuple[int, datetime]] = [(root.id, start)]
    weights = [max((agent.weight for agent in agents), default=1.0) * 0.5]
    for agent in agents:
        if agent.weight > 0:
            sellers.append((agent.id, agent.created_at + timedelta(days=1)))
            weights.append(agent.weight)
    seller_weights = list(accumulate(weights))  # cumulative: one bisect per pick
    product_weights = list(accumulate(PRODUCT_WEIGHTS.get(product.sku, DEFAULT_WEIGHT) for product in products))
    places = addresses()
    specs: list[OrderSpec] = []
    customers = 0
    while len(specs) < plan.orders:
        buyer = customer(rng, customers, places, now)
        customers += 1
        seller_id, since = (
            (None, start) if rng.random() < plan.direct_share else rng.choices(sellers, cum_weights=seller_weights)[0]
        )
        since = max(since, start)
        bought = rng.choices((1, 2, 3), cum_weights=(70, 90, 100))[0]
        for _ in range(min(bought, plan.orders - len(specs))):
            created = since + (now - timedelta(minutes=5) - since) * rng.random() ** 0.8
            product = rng.choices(products, cum_weights=product_weights)[0]
            if not product.min_age <= buyer.age <= product.max_age:
                product = next(p for p in products if p.min_age <= buyer.age <= p.max_age)
            specs.append(OrderSpec(created, buyer, seller_id, product, 2 if rng.random() < 0.04 else 1))
    specs.sort(key=lambda spec: spec.created)
    return specs, customers


def _write_wallets(
    connection: Connection, writer: BulkWriter, balances: dict[tuple[int, str], int], new_agents: set[int]
) -> None:
    """New agents get wallets with their final balances; existing wallets are brought forward."""
    writer.wait()
    existing = set(connection.scalars(select(Wallet.agent_id)))
    owners = new_agents | {agent_id for agent_id, _bucket in balances}
    wallets: Table = table(Wallet)
    for agent_id in sorted(owners):
        values = {bucket: balances.get((agent_id, bucket), 0) for bucket in BUCKETS}
        if agent_id in existing:
            connection.execute(update(wallets).where(wallets.c.agent_id == agent_id).values(values))
        else:
            writer.add(wallets, {"agent_id": agent_id, "last_withdrawal_at": None, **values})
    writer.wait()


def _count_stock(session: DbSession, live_qty: Counter[int], tag: str) -> None:
    """Products' stock grows by what the history sold, so what is available is unchanged;
    the stock ledger records both sides."""
    for product in session.scalars(select(Product).where(Product.id.in_(list(live_qty)))):
        sold = live_qty[product.id]
        available = product.stock_available
        product.stock_total += sold
        product.stock_sold += sold
        note = f"{tag}: stock behind the seeded order history"
        session.add(StockEntry(product_id=product.id, kind="restock", qty=sold, available_after=available + sold,
                               actor="seed-large", note=note))  # fmt: skip
        session.add(StockEntry(product_id=product.id, kind="sale", qty=-sold, available_after=available,
                               actor="seed-large", note=note))  # fmt: skip
    session.commit()


def _advance_sequences(session: DbSession) -> None:
    """PostgreSQL: ids were given explicitly, so move each id sequence past them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in ID_TABLES:
        name = table(model).name
        session.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")  # noqa: S608 - table names are ours
        )
    session.commit()


def _analyze(session: DbSession) -> None:
    """Refresh the planner's statistics: after millions of new rows, PostgreSQL's stale
    estimates pick sequential scans (and JIT-compile them) until autovacuum catches up.
    On PostgreSQL also VACUUM, which marks the new pages all-visible: until then an
    index-only scan (the capped counts, the dashboard's sums) visits the table anyway."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    statement = "VACUUM (ANALYZE)" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(statement)


def _busiest(specs: list[OrderSpec], agents: list[SeedAgent], root: Root) -> list[tuple[str, str, int]]:
    counts = Counter(spec.agent_id for spec in specs if spec.agent_id is not None)
    by_id = {agent.id: (agent.phone, agent.shop_code) for agent in agents} | {root.id: (root.phone, root.shop_code)}
    return [(*by_id[agent_id], count) for agent_id, count in counts.most_common(3)]

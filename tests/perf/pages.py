"""``make bench-pages``: the pages that grow with the data, against real gunicorn.

Run it on a database filled by ``flask --app wsgi cardshop seed-large`` (a million
orders, 10,000 agents). It starts its own three Redis nodes and gunicorn on that
database, logs in as the busiest agent (setting a known password on that account),
and measures each page: N sequential requests from one client, then N requests from
C concurrent clients, each with median, p95 and requests/s. Then it prints the query
plan of every SELECT each page runs (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
PostgreSQL) and flags any that reads a growing table whole. Results also go to
bench-results/pages-<time>.json.

    DATABASE_URL=sqlite:///instance/cardshop.db .venv/bin/python -m tests.perf.pages
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from cardshop import create_app
from cardshop.embedded import EmbeddedStack
from cardshop.extensions import db
from cardshop.models import Agent, Order, Product
from cardshop.services import admins, agents
from tests.perf.plans import Plan, plans_for
from tests.support import Gunicorn

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench2026pages"
ADMIN = "bench-pages"
TARGET_MEDIAN_MS = 50.0


@dataclass(frozen=True)
class Page:
    """One benchmark row: a name and the requests it sends, in turn. With ``forms``, each
    request POSTs the form at the same position, with a CSRF token from a GET of the path."""

    name: str
    paths: list[str]
    who: str = "agent"  # whose session sends it: agent, admin, or "" (a customer)
    forms: list[dict[str, str]] | None = None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0


def csrf_token(session: requests.Session, url: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(url, timeout=30).text)
    return found.group(1) if found else ""


def login(base: str, path: str, **fields: str) -> requests.Session:
    session = requests.Session()
    data = {**fields, "password": PASSWORD, "csrf_token": csrf_token(session, base + path)}
    response = session.post(base + path, data=data, allow_redirects=False, timeout=30)
    if response.status_code != 302:
        raise SystemExit(f"login at {path} failed: {response.status_code}")
    return session


def bench_admin(app: Any) -> int:
    """An operator account for the benchmark (created once, password reset each run)."""
    with app.app_context():
        admin = admins.find_admin(db.session, ADMIN)
        if admin is None:
            admin = admins.create_admin(db.session, ADMIN, PASSWORD, name="压测")
        else:
            admins.set_password(db.session, admin, PASSWORD)
        return int(admin.id)


def measure(base: str, page: Page, cookies: dict[str, Any], *, count: int, clients: int) -> dict[str, Any]:
    """``count`` requests one after another, then ``count`` spread over ``clients`` threads."""
    result: dict[str, Any] = {"row": page.name}
    for mode, threads in (("sequential", 1), ("concurrent", clients)):
        latencies: list[float] = []
        codes: Counter[str] = Counter()
        lock = threading.Lock()
        plan = list(range(count))

        def client(part: list[int], latencies: list[float] = latencies, codes: Counter[str] = codes) -> None:
            session = requests.Session()
            if page.who:
                session.cookies.update(cookies[page.who])
            token = csrf_token(session, base + page.paths[0]) if page.forms else ""
            for n in part:
                path = base + page.paths[n % len(page.paths)]
                began = time.perf_counter()
                if page.forms:
                    form = {**page.forms[n % len(page.forms)], "csrf_token": token}
                    response = session.post(path, data=form, allow_redirects=False, timeout=60)
                else:
                    response = session.get(path, allow_redirects=False, timeout=60)
                took = time.perf_counter() - began
                with lock:
                    codes[str(response.status_code)] += 1
                    if response.status_code == 200:
                        latencies.append(took)

        workers = [threading.Thread(target=client, args=(plan[i::threads],)) for i in range(threads)]
        began = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        result[mode] = {
            "clients": threads,
            "requests": count,
            "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "per_second": round(count / elapsed, 1),
            "codes": dict(codes),
        }
    return result


@dataclass(frozen=True)
class Seller:
    id: int
    phone: str
    orders: int


def busiest_agent(app: Any) -> Seller:
    """The agent with the most orders, given a known password for the benchmark's login."""
    with app.app_context():
        agent_id, orders = db.session.execute(
            select(Order.agent_id, func.count())
            .where(Order.agent_id.is_not(None))
            .group_by(Order.agent_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        agent = db.session.get(Agent, agent_id)
        assert agent is not None
        seller = Seller(agent.id, agent.phone, int(orders))
        agents.set_password(db.session, agent, PASSWORD)
        return seller


def customers(app: Any, count: int, seed: int) -> list[tuple[str, str, str]]:
    """(order_no, contact phone, ID tail) of ``count`` random orders, as their customers know them."""
    rng = random.Random(seed)
    with app.app_context():
        low, high = db.session.execute(select(func.min(Order.id), func.max(Order.id))).one()
        ids = [rng.randint(low, high) for _ in range(count)]
        query = select(Order.order_no, Order.customer_phone, Order.id_card).where(Order.id.in_(ids))
        return [(order_no, phone, id_card[-6:]) for order_no, phone, id_card in db.session.execute(query)]


def pages(app: Any, seed: int, shop: str) -> list[Page]:
    now = datetime.now(UTC)
    month, today, week = now.strftime("%Y-%m"), now.date().isoformat(), (now - timedelta(days=7)).date().isoformat()
    with app.app_context():
        sku = db.session.scalars(select(Product.sku).where(Product.listed.is_(True)).order_by(Product.id)).first()
    buyers = customers(app, 200, seed)
    return [
        Page("agent orders", ["/agent/orders"]),
        Page("agent orders ?status=shipped", ["/agent/orders?status=shipped"]),
        Page(f"agent orders ?month={month}", [f"/agent/orders?month={month}"]),
        Page("agent orders page 50", ["/agent/orders?page=50"]),
        Page("agent dashboard", ["/agent/"]),
        Page(
            "order lookup (form)",
            ["/orders/lookup"],
            who="",
            forms=[{"phone": phone, "id_tail": tail} for _no, phone, tail in buyers],
        ),
        Page("order lookup (api)", [f"/api/orders/{no}?phone={phone}" for no, phone, _tail in buyers], who=""),
        Page("ops orders", ["/ops/orders"], who="admin"),
        Page("ops orders ?status=shipped", ["/ops/orders?status=shipped"], who="admin"),
        Page("ops orders ?status&shop_code", [f"/ops/orders?status=settled&shop_code={shop}"], who="admin"),
        Page(
            "ops orders ?sku&dates (a week)", [f"/ops/orders?sku={sku}&date_from={week}&date_to={today}"], who="admin"
        ),
        Page("ops orders ?order_no", [f"/ops/orders?order_no={no}" for no, _phone, _tail in buyers], who="admin"),
        Page("ops orders page 20", ["/ops/orders?page=20"], who="admin"),
    ]


def print_plans(app: Any, users: dict[str, str], rows: list[Page]) -> list[dict[str, Any]]:
    report = []
    for page in rows:
        user = users.get(page.who)
        if page.forms:
            plans: list[Plan] = plans_for(app, page.paths[0], user_id=user, method="POST", data=page.forms[0])
        else:
            plans = plans_for(app, page.paths[0], user_id=user)
        print(f"\n== {page.name}: {page.paths[0]} ({len(plans)} queries)")
        for plan in plans:
            sql = " ".join(plan.query.sql.split())
            print(f"  {sql[:160]}{'...' if len(sql) > 160 else ''}")
            for line in plan.lines:
                print(f"      {line}")
            if plan.full_scans():
                print(f"      !! full scan of a growing table: {plan.full_scans()}")
            report.append({"page": page.name, "sql": sql, "plan": plan.lines, "full_scans": plan.full_scans()})
    return report


def print_table(rows: list[dict[str, Any]], clients: int) -> None:
    print(f"\n{'page':<34}{'seq p50':>9}{'p95':>8}{'req/s':>8}   {f'x{clients} p50':>9}{'p95':>8}{'req/s':>8}  codes")
    for row in rows:
        seq, conc = row["sequential"], row["concurrent"]
        ok = "" if (seq["p50_ms"] or 1e9) < TARGET_MEDIAN_MS else "  !! median over 50 ms"
        print(
            f"{row['row']:<34}{seq['p50_ms']!s:>9}{seq['p95_ms']:>8}{seq['per_second']:>8}   "
            f"{conc['p50_ms']!s:>9}{conc['p95_ms']:>8}{conc['per_second']:>8}  {conc['codes']}{ok}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), required=not os.environ.get("DATABASE_URL")
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per row and mode")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("CARDSHOP_WORKERS", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("CARDSHOP_THREADS", "4")))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-plans", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "bench-results"))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cardshop-pages-"))
    with EmbeddedStack(3, workdir=workdir / "redis") as stack:
        config = {"DATABASE_URL": args.database_url, "REDIS_URLS": stack.urls, "WTF_CSRF_ENABLED": False}
        os.environ["CARDSHOP_INSTANCE_PATH"] = str(workdir / "instance")
        app = create_app(config)
        with app.app_context():
            total = db.session.scalar(select(func.count()).select_from(Order)) or 0
            agent_count = db.session.scalar(select(func.count()).select_from(Agent)) or 0
        agent = busiest_agent(app)
        admin_id = bench_admin(app)
        with app.app_context():
            shop = db.session.get(Agent, agent.id).shop_code  # type: ignore[union-attr]
        rows = pages(app, args.seed, shop)
        env = {
            "REDIS_URLS": ",".join(stack.urls),
            "DATABASE_URL": args.database_url,
            "SECRET_KEY": "pages-bench",
            "CARDSHOP_INSTANCE_PATH": str(workdir / "instance"),
            "CARDSHOP_RATELIMIT_ENABLED": "false",
            "CARDSHOP_COOKIE_SECURE": "false",  # plain http to 127.0.0.1
            "CARDSHOP_THREADS": str(args.threads),
        }
        server = Gunicorn(env, workers=args.workers, log_dir=workdir).start()
        try:
            cookies = {
                "agent": login(server.url, "/agent/login", phone=agent.phone).cookies,
                "admin": login(server.url, "/ops/login", username=ADMIN).cookies,
            }
            results = [measure(server.url, page, cookies, count=args.requests, clients=args.clients) for page in rows]
        finally:
            server.stop()
        print(
            f"cardshop pages: {total} orders, {agent_count} agents; busiest agent {agent.phone} with "
            f"{agent.orders} orders; gunicorn {args.workers} workers x {args.threads} threads; "
            f"{args.database_url.split(':')[0]}; {os.cpu_count()} cores"
        )
        print_table(results, args.clients)
        users = {"agent": f"agent:{agent.id}", "admin": f"admin:{admin_id}"}
        plans = [] if args.no_plans else print_plans(app, users, rows)
    out = Path(args.output)
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {"at": stamp, "orders": total, "agents": agent_count, "args": vars(args), "rows": results, "plans": plans}
    (out / f"pages-{stamp}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    slow = [row["row"] for row in results if (row["sequential"]["p50_ms"] or 1e9) >= TARGET_MEDIAN_MS]
    scans = [plan["sql"][:80] for plan in plans if plan["full_scans"]]
    if slow or scans:
        print(f"\nover target: {slow}; full scans: {scans}")
    return 1 if slow or scans else 0


if __name__ == "__main__":
    sys.exit(main())

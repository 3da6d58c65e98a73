"""``make bench``: the order path under load, every row measured in the same run.

Starts its own three Redis nodes, a database and gunicorn, loads products, drives
HTTP from separate processes, and prints one table (also written as JSON under
bench-results/). Rows: the stack's ceiling (GET /healthz), the hot plan, orders spread
over 50 plans, a sold-out plan, and the two lock-level baselines without HTTP: pottery's
default blocking Redlock around the Lua decrement, and the project's stock service.

    .venv/bin/python -m tests.perf.bench --clients 64 --seconds 10

With ``--repeat N`` the order rows are measured N times in turn (each against the
ceiling around it) and the table shows each row's median run, with every run's share
of the ceiling printed below it. With ``--steps`` the workers time each step of every
sale (waiting for the process's turn, taking the lock and token, reserve.lua, the
transaction, the release; wall time and the selling thread's CPU) and a line per order
row says where a lease's time went.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import redis
from sqlalchemy import func, select

from cardshop import create_app, metrics, runtime
from cardshop.embedded import EmbeddedStack
from cardshop.extensions import db
from cardshop.models import Order, Product
from tests.perf.load import DISTINCT_IDS, ROW_SPAN, Result, drive
from tests.support import Gunicorn, product_fields

ROOT = Path(__file__).resolve().parents[2]
HOT_STOCK = 10_000_000
SPREAD = 50


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0


SALE_STEPS = ("turn", "take", "reserve", "write", "release")


def grown(before: dict[str, float], after: dict[str, float], key: str) -> float:
    """How much a summed metric (``metrics.totals``) grew over a row."""
    return after.get(key, 0.0) - before.get(key, 0.0)


def sale_steps(before: dict[str, float], after: dict[str, float]) -> dict[str, dict[str, float]]:
    """The selling threads' mean time per step over one row, wall and CPU, in ms
    (``cardshop_stock_step_seconds``; reserve and write per batch, the rest per lease),
    and how many times each step ran."""
    steps: dict[str, dict[str, float]] = {}
    for name in SALE_STEPS:
        figures: dict[str, float] = {}
        for clock in ("wall", "cpu"):
            labels = f"{{clock={clock},step={name}}}"
            count = grown(before, after, f"cardshop_stock_step_seconds_count{labels}")
            total = grown(before, after, f"cardshop_stock_step_seconds_sum{labels}")
            if count:
                figures[f"{clock}_ms"] = round(total / count * 1000, 2)
                figures["count"] = count
        if figures:
            steps[name] = figures
    return steps


def describe_steps(steps: dict[str, dict[str, float]]) -> str:
    """One line: each step's mean wall / CPU ms, and batches per lease."""
    parts = []
    for name, figures in steps.items():
        wall, cpu = figures.get("wall_ms"), figures.get("cpu_ms")
        parts.append(f"{name} {wall:.1f}" if name == "turn" else f"{name} {wall:.1f}/{cpu:.2f}")
    leases, batches = steps.get("take", {}).get("count"), steps.get("reserve", {}).get("count")
    per_lease = f"; {batches / leases:.1f} batches a lease" if leases and batches else ""
    return ", ".join(parts) + per_lease


def stock_figures(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, Any]:
    """Mean orders per batch, mean time a product lock was held, and the share of the
    row's time some product lock was held (summed over products: above 100% when
    several are held at once), over one row."""

    def mean(name: str, scale: float = 1.0) -> float | None:
        count, total = grown(before, after, f"{name}_count"), grown(before, after, f"{name}_sum")
        return round(total / count * scale, 1) if count else None

    return {
        "batch_orders": mean("cardshop_stock_batch_orders"),
        "lock_held_ms": mean("cardshop_lock_held_seconds", 1000.0),
        "lock_wait_ms": mean("cardshop_lock_wait_seconds", 1000.0),
        "sale_steps": sale_steps(before, after),
        "lock_busy_pct": round(grown(before, after, "cardshop_lock_held_seconds_sum") / seconds * 100),
    }


class Usage(NamedTuple):
    cpu: float  # user plus system CPU seconds
    switches: int  # context switches, voluntary and not, over all threads


def usage(pids: list[int]) -> dict[int, Usage]:
    """What each process has used so far (Linux /proc). A thread switches each time it
    waits (for a node, a lock, the GIL, a socket) and is woken again; under load each of
    those costs CPU that instruction counts in one thread do not show."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            switches = 0
            for status in Path(f"/proc/{pid}/task").glob("*/status"):
                with contextlib.suppress(OSError):  # a thread that ended meanwhile
                    for line in status.read_text().splitlines():
                        if "ctxt_switches:" in line:
                            switches += int(line.split()[1])
        except OSError:
            continue
        used[pid] = Usage((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), switches)  # utime, stime
    return used


def used_since(before: dict[int, Usage], after: dict[int, Usage]) -> Usage:
    """All processes' use between the two readings; one that started meanwhile counts whole."""
    nothing = Usage(0.0, 0)
    return Usage(
        sum(now.cpu - before.get(pid, nothing).cpu for pid, now in after.items()),
        sum(now.switches - before.get(pid, nothing).switches for pid, now in after.items()),
    )


def node_commands(urls: list[str]) -> int:
    """Commands the three nodes have run so far, all together (each INFO counts one)."""
    total = 0
    for url in urls:
        client = redis.Redis.from_url(url, socket_timeout=2)
        try:
            total += int(client.info("stats")["total_commands_processed"])
        finally:
            client.close()
    return total


def row(name: str, result: Result, seconds: float, success: str) -> dict[str, Any]:
    ok = result.latencies.get(success, [])
    return {
        "row": name,
        "requests": result.requests,
        "per_second": round(result.requests / seconds, 1),
        "ok_per_second": round(len(ok) / seconds, 1),
        "p50_ms": round(percentile(ok, 0.50), 1),
        "p95_ms": round(percentile(ok, 0.95), 1),
        "p99_ms": round(percentile(ok, 0.99), 1),
        "p999_ms": round(percentile(ok, 0.999), 1),
        "max_ms": round(max(ok, default=0.0) * 1000, 1),
        "codes": dict(result.codes),
    }


def merged_ceiling(measured: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """All the ceiling measurements of a run as one row, with their spread."""
    merged = Result()
    for one in measured:
        merged.codes.update(one["result"].codes)
        for code, values in one["result"].latencies.items():
            merged.latencies.setdefault(code, []).extend(values)
        merged.requests += one["result"].requests
    result = row("ceiling: GET /healthz", merged, seconds * len(measured), "200")
    result["ceiling_runs"] = [one["per_second"] for one in measured]
    for key, digits in (("worker_cpu_ms", 2), ("driver_cpu_ms", 2), ("worker_switches", 1), ("node_commands", 1)):
        values = [one[key] for one in measured]
        result[key] = round(sum(values) / len(values), digits)
    return result


def share(measured: dict[str, Any]) -> float:
    """A row's requests per second as a share of the ceiling measured around it."""
    own = measured.get("ceiling_per_second")
    return measured["per_second"] / own if own else measured["per_second"]


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of a repeated row with the median share of its ceiling (the lower middle
    one for an even count), with every run's share, rate and p99 beside it
    (``--repeat``): on a machine whose speed drifts, one run can be a third off."""
    ordered = sorted(runs, key=share)
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["repeat_shares_pct"] = [round(share(run) * 100) for run in runs]
        chosen["repeat_per_second"] = [run["per_second"] for run in runs]
        chosen["repeat_p99_ms"] = [run["p99_ms"] for run in runs]
        chosen["repeat_p999_ms"] = [run["p999_ms"] for run in runs]
    return chosen


def warm_up(server: Gunicorn, args: argparse.Namespace) -> None:
    """A short burst the figures leave out. gunicorn answers once its first worker is
    up; the master forks the others at once, but they would load the app (a second of
    CPU each) inside the first row."""
    drive(server.url, "get", ["/healthz"], clients=args.clients, seconds=3, processes=args.driver_processes, seed=0)


def setup_database(urls: list[str], database_url: str) -> None:
    app = create_app({"REDIS_URLS": urls, "DATABASE_URL": database_url})
    with app.app_context():
        db.create_all()
        db.session.add(Product(**product_fields("HOT", HOT_STOCK, name="秒杀爆款")))
        db.session.add(Product(**product_fields("SOLD", 0, name="已售罄")))
        db.session.add(Product(**product_fields("CORE", HOT_STOCK, name="基准", listed=False)))
        for i in range(SPREAD):
            db.session.add(Product(**product_fields(f"S-{i:02d}", HOT_STOCK, name=f"套餐{i}")))
        db.session.commit()
        runtime.stock().reconcile(actor="bench")
    runtime.runtime(app).close()


def _baseline_service(args: tuple[list[str], str, float, float]) -> int:
    """The project's StockService.reserve, including its guarded database write."""
    urls, database_url, start_at, seconds = args
    app = create_app({"REDIS_URLS": urls, "DATABASE_URL": database_url})
    done, pid = 0, os.getpid()
    with app.app_context():
        stock = runtime.stock()
        time.sleep(max(0.0, start_at - time.time()))  # every process starts the window together
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            try:
                stock.reserve("CORE", 1, f"core-{pid}-{done}", lambda session, product: None)
                done += 1
            except Exception:
                db.session.rollback()
    return done


def anchor(urls: list[str], processes: int, seconds: float, *, cardshop_executor: bool = False) -> int:
    """tests/perf/anchor.py in a program of its own (see there why)."""
    command = [sys.executable, "-m", "tests.perf.anchor", "--urls", ",".join(urls), "--processes", str(processes)]
    command += ["--seconds", str(seconds), "--sku", "EXEC" if cardshop_executor else "BASE"]
    if cardshop_executor:
        command.append("--cardshop-executor")
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return int(json.loads(out.strip().splitlines()[-1])["done"])


def lock_baselines(urls: list[str], database_url: str, processes: int, seconds: float) -> list[dict[str, Any]]:
    from cardshop.stock.nodes import NodeSet, connect
    from cardshop.stock.service import stock_key

    nodes = NodeSet(connect(urls, socket_timeout=1, connect_timeout=1), wait=2)
    for sku in ("BASE", "EXEC"):
        nodes.fanout(lambda client, sku=sku: client.hset(stock_key(sku), mapping={"avail": HOT_STOCK, "token": 1}))
    nodes.close()

    def stock_service() -> int:
        start_at = time.time() + 2.0 + processes * 0.2  # time for every process to start the app
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            return sum(pool.map(_baseline_service, [(urls, database_url, start_at, seconds)] * processes))

    rows = []
    for name, measure in (
        ("pottery default", lambda: anchor(urls, processes, seconds)),
        ("pottery, inline calls", lambda: anchor(urls, processes, seconds, cardshop_executor=True)),
        ("stock service", stock_service),
    ):
        total = measure()
        rows.append(
            {
                "row": f"baseline: {name} ({processes} proc)",
                "anchor": name == "pottery default",
                "requests": total,
                "per_second": round(total / seconds, 1),
                "ok_per_second": round(total / seconds, 1),
                "p50_ms": None,
                "p95_ms": None,
                "p99_ms": None,
                "p999_ms": None,
                "max_ms": None,
                "codes": {"done": total},
            }
        )
    return rows


def invariant_check(urls: list[str], database_url: str) -> dict[str, Any]:
    app = create_app({"REDIS_URLS": urls, "DATABASE_URL": database_url})
    with app.app_context():
        products = db.session.scalars(select(Product)).all()
        orders = dict(
            db.session.execute(
                select(Product.sku, func.coalesce(func.sum(Order.qty), 0))
                .join(Order, isouter=True)
                .group_by(Product.sku)
            ).all()
        )
        counters = runtime.stock().counters([p.sku for p in products])
        problems = []
        for index, product in enumerate(products):
            node_values = {values[index] for values in counters if values is not None}
            taken = {product.stock_total - value for value in node_values if value is not None}
            if product.stock_sold > product.stock_total:
                problems.append(f"{product.sku}: oversold")
            if product.sku != "CORE" and orders.get(product.sku, 0) != product.stock_sold:
                problems.append(f"{product.sku}: {orders.get(product.sku)} ordered, {product.stock_sold} sold")
            if taken != {product.stock_sold}:
                problems.append(f"{product.sku}: counters took {taken}, database sold {product.stock_sold}")
        sold = sum(p.stock_sold for p in products)
    runtime.runtime(app).close()
    return {"ok": not problems, "problems": problems, "sold": sold}


def print_table(rows: list[dict[str, Any]], ceiling: float, baseline: float) -> None:
    print(
        f"\n{'row':<42}{'req/s':>9}{'ok/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'% ceil':>8}{'x base':>8}"
        f"{'batch':>7}{'lock ms':>9}{'cpu ms':>8}{'driver':>8}{'switch':>8}{'node cmds':>10}  codes"
    )
    for r in rows:
        own = r.get("ceiling_per_second") or ceiling
        share = f"{r['per_second'] / own * 100:.0f}%" if own else "-"
        times = f"{r['ok_per_second'] / baseline:.1f}" if baseline else "-"

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        def cpu(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        print(
            f"{r['row']:<42}{r['per_second']:>9.0f}{r['ok_per_second']:>9.0f}{ms(r['p50_ms']):>9}"
            f"{ms(r['p95_ms']):>9}{ms(r['p99_ms']):>9}{share:>8}{times:>8}"
            f"{ms(r.get('batch_orders')):>7}{ms(r.get('lock_held_ms')):>9}{cpu(r.get('worker_cpu_ms')):>8}"
            f"{cpu(r.get('driver_cpu_ms')):>8}{ms(r.get('worker_switches')):>8}{ms(r.get('node_commands')):>10}"
            f"  {r['codes']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--driver-processes", type=int, default=4)
    parser.add_argument(
        "--baseline-processes",
        type=int,
        help="processes driving the lock baselines (default: --clients, as many contenders as the HTTP rows have)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("CARDSHOP_WORKERS", "0")),
        help="gunicorn workers (default: gunicorn.conf.py's)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("CARDSHOP_THREADS", "0")),
        help="threads per worker (default: gunicorn.conf.py's)",
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--rows", default="ceiling,hot,spread,soldout,baseline")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure the order rows this many times, in turn, and show the median run of each",
    )
    parser.add_argument("--output", default=str(ROOT / "bench-results"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (database, logs) after the run")
    parser.add_argument(
        "--steps",
        action="store_true",
        help="time each step of every sale in the workers (CARDSHOP_STOCK_STEP_TIMING) and print where a lease's"
        " time goes; about 2%% of a batch's instructions",
    )
    args = parser.parse_args()
    # Rows take their buyers from disjoint ranges of ID numbers; past 15 rows the ranges
    # would meet again (see load.id_card).
    assert 5 * ROW_SPAN <= DISTINCT_IDS and 1 <= args.repeat <= 5
    wanted = set(args.rows.split(","))

    workdir = Path(tempfile.mkdtemp(prefix="cardshop-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    rows: list[dict[str, Any]] = []
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    with EmbeddedStack(3, workdir=workdir / "redis") as stack:
        setup_database(stack.urls, database_url)
        env = {
            "REDIS_URLS": ",".join(stack.urls),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "CARDSHOP_INSTANCE_PATH": str(workdir / "instance"),
            "CARDSHOP_METRICS_DIR": str(metrics_dir),
            **({"CARDSHOP_THREADS": str(args.threads)} if args.threads else {}),
            **({"CARDSHOP_STOCK_STEP_TIMING": "1"} if args.steps else {}),
        }
        server = Gunicorn(env, workers=args.workers or None, log_dir=workdir).start()
        try:
            warm_up(server, args)
            plan = [
                ("hot", "hot plan", "post", ["HOT"], "201"),
                ("spread", f"spread over {SPREAD}", "post", [f"S-{i:02d}" for i in range(SPREAD)], "201"),
                ("soldout", "sold out", "post", ["SOLD"], "409 sold_out"),
            ]
            ceiling_rows: list[dict[str, Any]] = []

            def measure(name: str, kind: str, skus: list[str], success: str, seed: int) -> dict[str, Any]:
                before = metrics.totals(str(metrics_dir))
                used_before = usage(server.worker_pids())
                commands_before = node_commands(stack.urls)
                result = drive(
                    server.url,
                    kind,
                    skus,
                    clients=args.clients,
                    seconds=args.seconds,
                    processes=args.driver_processes,
                    seed=seed * 10**9,
                )
                measured = row(name, result, args.seconds, success)
                measured.update(stock_figures(before, metrics.totals(str(metrics_dir)), args.seconds))
                # Listed again at the end: a worker restarted meanwhile counts whole.
                used = used_since(used_before, usage(server.worker_pids()))
                commands = node_commands(stack.urls) - commands_before
                requests = max(1, result.requests)
                measured["worker_cpu_ms"] = round(used.cpu / requests * 1000, 2)
                measured["driver_cpu_ms"] = round(result.driver_cpu / requests * 1000, 2)
                measured["worker_switches"] = round(used.switches / requests, 1)
                measured["node_commands"] = round(commands / requests, 1)
                measured["result"] = result
                return measured

            def ceiling_now() -> float:
                ceiling_rows.append(measure("ceiling: GET /healthz", "get", ["/healthz"], "200", 0))
                return float(ceiling_rows[-1]["per_second"])

            # The machine's speed drifts (it is shared): the ceiling is measured before
            # and after every row, and each row is compared with the mean of the two.
            previous = ceiling_now() if "ceiling" in wanted else 0.0
            repeats: dict[str, list[dict[str, Any]]] = {}
            for repeat in range(args.repeat):
                for index, (key, name, kind, skus, success) in enumerate(plan):
                    if key in wanted:
                        seed = 1 + repeat * len(plan) + index  # every request of the run its own buyer
                        repeats.setdefault(name, []).append(measure(name, kind, skus, success, seed))
                        if "ceiling" in wanted:
                            after = ceiling_now()
                            repeats[name][-1]["ceiling_per_second"] = round((previous + after) / 2, 1)
                            previous = after
            rows += [median_row(runs) for runs in repeats.values()]
            if ceiling_rows:
                rows.insert(0, merged_ceiling(ceiling_rows, args.seconds))
            for measured in rows:
                measured.pop("result", None)
        finally:
            server.stop()
        if "baseline" in wanted:
            processes = args.baseline_processes or args.clients
            rows += lock_baselines(stack.urls, database_url, processes, args.seconds)
        check = invariant_check(stack.urls, database_url)
    if args.keep or not check["ok"]:
        print(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)  # also kept when the run failed: gunicorn's logs are there

    ceiling = next((r["per_second"] for r in rows if r["row"].startswith("ceiling")), 0.0)
    baseline = next((r["per_second"] for r in rows if r.get("anchor")), 0.0)
    print(
        f"cardshop bench: {args.clients} clients, {args.seconds:.0f}s per row, "
        f"gunicorn {args.workers or 'default'} workers x {args.threads or 'default'} threads, "
        f"{database_url.split(':')[0]}, {os.cpu_count()} cores"
    )
    print_table(rows, ceiling, baseline)
    runs = next((r["ceiling_runs"] for r in rows if "ceiling_runs" in r), [])
    if runs:
        print(
            f"\nceiling measured before and after each row: {', '.join(f'{v:.0f}' for v in runs)} req/s;"
            " each row's % is of the mean of the two around it"
        )
    for measured in rows:
        if "repeat_shares_pct" in measured:
            print(
                f"{measured['row']}: {', '.join(f'{v}%' for v in measured['repeat_shares_pct'])} of the ceiling, "
                f"p99 {', '.join(f'{v:.0f}' for v in measured['repeat_p99_ms'])} ms, "
                f"p99.9 {', '.join(f'{v:.0f}' for v in measured['repeat_p999_ms'])} ms over {args.repeat} runs"
                " (the table shows the median run)"
            )
    stepped = [measured for measured in rows if measured.get("sale_steps")]
    if stepped:
        print("\nselling threads, mean ms per step (wall/cpu; turn per batch's leader, reserve and write per batch):")
        for measured in stepped:
            print(f"  {measured['row']}: {describe_steps(measured['sale_steps'])}")
    print(f"\ninvariants: {'ok' if check['ok'] else 'VIOLATED'} ({check['sold']} sold){check['problems'] or ''}")
    out = Path(args.output)
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {"at": stamp, "args": vars(args), "rows": rows, "invariants": check}
    (out / f"bench-{stamp}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if check["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Loading a product's number pool (号池) from a CSV file, all or nothing.

One number per line, in the first column; a header line (号码 / msisdn / number) and
blank lines are skipped, other columns are ignored. Any bad line -- not a mainland
mobile number, repeated in the file, or already in a pool -- stops the whole import
and is reported with its line number, so an operator fixes the file and uploads it
again instead of hunting for which half went in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from ..errors import Invalid
from ..models import DbSession, PhoneNumber, Product
from .order_input import MSISDN

HEADERS = {"号码", "手机号", "msisdn", "number", "phone"}
MAX_LINES = 100_000
_CHUNK = 500  # numbers per IN (...) lookup; well under every database's parameter limit


@dataclass
class LineProblem:
    line: int
    value: str
    problem: str


@dataclass
class ImportReport:
    added: int = 0
    problems: list[LineProblem] = field(default_factory=list)


def read_lines(raw: bytes | str) -> list[tuple[int, str]]:
    """(line number, first cell) for each non-blank line; decodes UTF-8 (with or without
    a BOM, as Excel saves it) or GB18030 (as older Chinese tools do)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                raise Invalid("文件编码无法识别，请另存为 UTF-8 CSV") from None
    else:
        text = raw
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cell = row[0].strip().replace(" ", "").replace("-", "") if row else ""
        if cell:
            rows.append((number, cell))
    return rows


def check_lines(session: DbSession, lines: list[tuple[int, str]]) -> list[LineProblem]:
    """Every problem in the file, in line order."""
    problems: list[LineProblem] = []
    if lines and lines[0][1].lower() in HEADERS:
        lines = lines[1:]
    if len(lines) > MAX_LINES:
        return [LineProblem(lines[MAX_LINES][0], "", f"一次最多导入 {MAX_LINES} 个号码，请拆分文件")]
    first_seen: dict[str, int] = {}
    for number, value in lines:
        if not MSISDN.match(value):
            problems.append(LineProblem(number, value, "不是有效的11位手机号"))
        elif value in first_seen:
            problems.append(LineProblem(number, value, f"与第 {first_seen[value]} 行重复"))
        else:
            first_seen[value] = number
    for msisdn, owner in _existing(session, list(first_seen)):
        problems.append(LineProblem(first_seen[msisdn], msisdn, f"号码已在号池中（{owner}）"))
    return sorted(problems, key=lambda p: p.line)


def _existing(session: DbSession, msisdns: list[str]) -> Iterable[tuple[str, str]]:
    for start in range(0, len(msisdns), _CHUNK):
        chunk = msisdns[start : start + _CHUNK]
        yield from session.execute(
            select(PhoneNumber.msisdn, Product.sku)
            .join(Product, Product.id == PhoneNumber.product_id)
            .where(PhoneNumber.msisdn.in_(chunk))
        ).tuples()


def import_numbers(session: DbSession, product: Product, raw: bytes | str) -> ImportReport:
    """Add every number in ``raw`` to ``product``'s pool, or none of them.

    Returns the report; ``added`` is 0 whenever ``problems`` is not empty. A number
    another import adds at the same moment is caught by the unique constraint and
    rolls the whole file back."""
    lines = read_lines(raw)
    problems = check_lines(session, lines)
    if problems:
        session.rollback()
        return ImportReport(problems=problems)
    msisdns = [value for _, value in lines if value.lower() not in HEADERS]
    if not msisdns:
        return ImportReport(problems=[LineProblem(0, "", "文件里没有号码")])
    # One multi-row INSERT per batch, not an ORM object per number: 100,000 lines load in seconds.
    rows = [{"product_id": product.id, "msisdn": msisdn, "status": "free"} for msisdn in msisdns]
    try:
        session.execute(insert(PhoneNumber), rows)
        session.commit()
    except IntegrityError:
        session.rollback()  # another import won a number meanwhile: report it like any other
        return ImportReport(problems=check_lines(session, lines) or [LineProblem(0, "", "导入冲突，请重试")])
    return ImportReport(added=len(msisdns))


def pool_counts(session: DbSession, product: Product) -> dict[str, int]:
    rows = session.execute(
        select(PhoneNumber.status, func.count())
        .where(PhoneNumber.product_id == product.id)
        .group_by(PhoneNumber.status)
    ).tuples()
    counts = {"free": 0, "sold": 0}
    counts.update({status: int(count) for status, count in rows})
    return counts

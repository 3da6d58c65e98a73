"""The number picker (选号): a product's free numbers, filtered and paged.

Free means unsold in the database and not held by another customer on the nodes; the
customer's own held number stays visible so they can see what they picked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..errors import Invalid, NotFound, NumberTaken
from ..models import DbSession, PhoneNumber, Product
from ..validation import pretty_number_tags
from .holds import Hold, HoldService

PER_PAGE = 20
_DIGITS = re.compile(r"^\d{1,8}$")


@dataclass(frozen=True)
class NumberFilter:
    ends: str = ""  # the number ends with these digits
    contains: str = ""  # the number contains these digits
    no_four: bool = False  # without the digit 4

    @classmethod
    def parse(cls, ends: str, contains: str, no_four: bool) -> NumberFilter:
        problems = {}
        ends, contains = ends.strip(), contains.strip()
        if ends and not _DIGITS.match(ends):
            problems["ends"] = "尾号只能填 1 到 8 位数字"
        if contains and not _DIGITS.match(contains):
            problems["contains"] = "包含的数字只能填 1 到 8 位数字"
        if problems:
            raise Invalid(fields=problems)
        return cls(ends, contains, no_four)

    @property
    def active(self) -> bool:
        return bool(self.ends or self.contains or self.no_four)


@dataclass(frozen=True)
class NumberChoice:
    msisdn: str
    tags: list[str]
    mine: bool = False

    @property
    def display(self) -> str:
        """Grouped the way people read numbers aloud: 139 1234 8888."""
        return f"{self.msisdn[:3]} {self.msisdn[3:7]} {self.msisdn[7:]}"

    def to_public(self) -> dict[str, object]:
        return {"msisdn": self.msisdn, "tags": self.tags, "held_by_you": self.mine}


@dataclass(frozen=True)
class NumberPage:
    numbers: list[NumberChoice]
    page: int
    pages: int
    total: int
    own: str | None = None
    filter: NumberFilter = field(default_factory=NumberFilter)


def free_numbers(
    session: DbSession, holds: HoldService, product: Product, owner: str | None, wanted: NumberFilter, *, page: int = 1
) -> NumberPage:
    """One page of the numbers a customer may pick. Raises StockUnavailable when the
    holds cannot be read (fewer than a majority of nodes)."""
    if not product.number_selectable:
        raise NotFound("该套餐不支持选号")
    held_by_others, own = holds.held_numbers(product.sku, owner)
    conditions = [PhoneNumber.product_id == product.id, PhoneNumber.status == "free"]
    if held_by_others:
        conditions.append(PhoneNumber.msisdn.not_in(sorted(held_by_others)))
    if wanted.ends:
        conditions.append(PhoneNumber.msisdn.endswith(wanted.ends, autoescape=True))
    if wanted.contains:
        conditions.append(PhoneNumber.msisdn.contains(wanted.contains, autoescape=True))
    if wanted.no_four:
        conditions.append(~PhoneNumber.msisdn.contains("4"))
    total = session.scalar(select(func.count(PhoneNumber.id)).where(*conditions)) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = session.scalars(
        select(PhoneNumber.msisdn)
        .where(*conditions)
        .order_by(PhoneNumber.msisdn)
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    numbers = [NumberChoice(msisdn, pretty_number_tags(msisdn), msisdn == own) for msisdn in rows]
    return NumberPage(numbers, page, pages, total, own, wanted)


def hold_number(session: DbSession, holds: HoldService, product: Product, msisdn: str, owner: str) -> Hold:
    """Hold a number of ``product`` for ``owner`` (releasing what they held before).

    Raises NotFound for a number not in the product's pool, NumberTaken when it is
    sold or held by someone else, StockUnavailable without a majority of nodes."""
    if not product.number_selectable:
        raise NotFound("该套餐不支持选号")
    number = session.scalars(
        select(PhoneNumber).where(PhoneNumber.msisdn == msisdn, PhoneNumber.product_id == product.id)
    ).one_or_none()
    if number is None:
        raise NotFound("该套餐没有这个号码")
    if number.status != "free":
        raise NumberTaken()
    session.rollback()
    return holds.hold(product.sku, msisdn, owner)

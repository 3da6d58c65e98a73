"""Order lookup for customers: contact phone plus the last six characters of the ID
number. A wrong detail and no order at all give the same (empty) answer, so the form
cannot be used to learn whether someone ordered."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from ..errors import Invalid
from ..models import DbSession, Order
from ..validation import mobile_problem

ID_TAIL = re.compile(r"^\d{5}[\dX]$")
MOST_SHOWN = 20


def check_lookup_input(phone: str, id_tail: str) -> tuple[str, str]:
    """Normalised (phone, id_tail); Invalid with field messages when malformed."""
    phone, id_tail = phone.strip(), id_tail.strip().upper()
    problems = {}
    if problem := mobile_problem(phone):
        problems["phone"] = problem
    if not ID_TAIL.match(id_tail):
        problems["id_tail"] = "请填写身份证号码的最后6位（数字或X）"
    if problems:
        raise Invalid(fields=problems)
    return phone, id_tail


def orders_by_contact(session: DbSession, phone: str, id_tail: str) -> list[Order]:
    """The orders placed with this contact phone and an ID number ending in ``id_tail``,
    newest first."""
    phone, id_tail = check_lookup_input(phone, id_tail)
    candidates = session.scalars(
        select(Order).where(Order.customer_phone == phone).order_by(Order.created_at.desc(), Order.id.desc()).limit(200)
    )
    found = [order for order in candidates if secrets.compare_digest(order.id_card[-6:], id_tail)]
    return found[:MOST_SHOWN]

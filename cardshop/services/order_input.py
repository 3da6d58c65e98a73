"""What a customer submits to place an order, checked field by field.

Shared by the JSON API and the order form, so both refuse the same things with the
same messages. Raises :class:`Invalid` with every problem found, keyed by field path
(``customer.id_card``, ``address.city``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from .. import regions
from ..errors import Invalid
from ..models import Product
from ..validation import age_on, id_card_problem, mobile_problem, normalize_id_card
from .catalog import ProductTerms

MSISDN = re.compile(r"^1[3-9]\d{9}$")

_TOP_FIELDS = {"sku", "qty", "number", "hold_token", "customer", "address", "shop_code"}
_CUSTOMER_FIELDS = {"name", "id_card", "phone"}
_ADDRESS_FIELDS = {"province", "city", "district", "detail"}

# What a customer is told for an empty required field.
REQUIRED_MESSAGES = {
    "sku": "请选择套餐",
    "customer.name": "请填写机主姓名",
    "customer.id_card": "请填写身份证号码",
    "customer.phone": "请填写联系电话",
    "address.province": "请选择省份",
    "address.city": "请选择城市",
    "address.district": "请选择区/县",
    "address.detail": "请填写详细地址",
}


@dataclass(frozen=True)
class OrderInput:
    sku: str
    qty: int
    name: str
    id_card: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    number: str | None = None
    hold_token: str | None = None
    shop_code: str | None = None

    def fingerprint_fields(self) -> tuple[Any, ...]:
        return (
            self.sku,
            self.qty,
            self.number,
            self.name,
            self.id_card,
            self.phone,
            self.province,
            self.city,
            self.district,
            self.detail,
            self.shop_code,
        )


def parse(payload: Any, *, max_qty: int) -> OrderInput:
    """Check the shape and each field of an order payload (no database needed)."""
    if not isinstance(payload, dict):
        raise Invalid("请求体必须是 JSON 对象", fields={"": "请求体必须是 JSON 对象"})
    problems: dict[str, str] = {}
    customer = _section(payload, "customer", _CUSTOMER_FIELDS, problems)
    address = _section(payload, "address", _ADDRESS_FIELDS, problems)
    for unknown in sorted(set(payload) - _TOP_FIELDS):
        problems[unknown] = "不认识的字段"

    sku = _text(payload, "sku", problems, required=True, limit=40)
    qty = payload.get("qty", 1)
    if isinstance(qty, bool) or not isinstance(qty, int):
        problems["qty"] = "数量必须是整数"
        qty = 1
    elif not 1 <= qty <= max_qty:
        problems["qty"] = f"每单数量须在 1 到 {max_qty} 之间"

    name = _text(customer, "name", problems, required=True, limit=40, path="customer.name")
    if name and not 2 <= len(name) <= 20:
        problems["customer.name"] = "请填写 2 到 20 个字的真实姓名"
    id_card = normalize_id_card(_text(customer, "id_card", problems, required=True, limit=18, path="customer.id_card"))
    if id_card and "customer.id_card" not in problems:
        problem = id_card_problem(id_card)
        if problem:
            problems["customer.id_card"] = problem
    phone = _text(customer, "phone", problems, required=True, limit=11, path="customer.phone")
    if phone and "customer.phone" not in problems:
        problem = mobile_problem(phone)
        if problem:
            problems["customer.phone"] = problem

    province = _text(address, "province", problems, required=True, limit=20, path="address.province")
    city = _text(address, "city", problems, required=True, limit=30, path="address.city")
    district = _text(address, "district", problems, limit=30, path="address.district")
    detail = _text(address, "detail", problems, required=True, limit=120, path="address.detail")
    problems.update(_region_problems(province, city, district))
    if detail and len(detail) < 4:
        problems["address.detail"] = "请填写完整的街道、门牌号"

    number = _text(payload, "number", problems, limit=11) or None
    if number and not MSISDN.match(number):
        problems["number"] = "号码格式不正确"
    hold_token = _text(payload, "hold_token", problems, limit=64) or None
    shop_code = _text(payload, "shop_code", problems, limit=20) or None
    if number and qty != 1:
        problems["qty"] = "选号订单每单只能购买 1 张"
    if problems:
        raise Invalid(fields=problems)
    return OrderInput(
        sku=sku,
        qty=qty,
        name=name,
        id_card=id_card,
        phone=phone,
        province=province,
        city=city,
        district=district,
        detail=detail,
        number=number,
        hold_token=hold_token,
        shop_code=shop_code,
    )


def check_against_product(order: OrderInput, product: Product | ProductTerms, today: date) -> None:
    """The product's own limits: buyer age, regions it will not ship to, number selection."""
    problems: dict[str, str] = {}
    age = age_on(order.id_card, today)
    if not product.min_age <= age <= product.max_age:
        problems["customer.id_card"] = f"该套餐仅限 {product.min_age} 至 {product.max_age} 周岁用户办理"
    if product.excludes(order.province, order.city):
        problems["address.province"] = f"该套餐暂不支持发货到{order.province}{order.city}"
    if order.number and not product.number_selectable:
        problems["number"] = "该套餐不支持选号"
    if problems:
        raise Invalid(fields=problems)


def _region_problems(province: str, city: str, district: str) -> dict[str, str]:
    """Province, city and district must name a real place; a city without districts
    (东莞市, 仙桃市...) takes an empty district."""
    if not province:
        return {}
    if not regions.cities(province):
        return {"address.province": "请从列表中选择省份"}
    if not city:
        return {}
    if regions.normalize_city(province, city) not in regions.cities(province):
        return {"address.city": "城市与省份不匹配，请重新选择"}
    if not district and regions.districts(province, city):
        return {"address.district": REQUIRED_MESSAGES["address.district"]}
    if not regions.is_valid(province, city, district):
        return {"address.district": "省市区不匹配，请重新选择"}
    return {}


def _section(payload: dict[str, Any], name: str, allowed: set[str], problems: dict[str, str]) -> dict[str, Any]:
    value = payload.get(name)
    if value is None:
        problems[name] = "必填"
        return {}
    if not isinstance(value, dict):
        problems[name] = "必须是 JSON 对象"
        return {}
    for unknown in sorted(set(value) - allowed):
        problems[f"{name}.{unknown}"] = "不认识的字段"
    return value


def _text(
    source: dict[str, Any],
    key: str,
    problems: dict[str, str],
    *,
    required: bool = False,
    limit: int,
    path: str | None = None,
) -> str:
    path = path or key
    value = source.get(key)
    if value is None or value == "":
        if required:
            problems.setdefault(path, REQUIRED_MESSAGES.get(path, "必填"))
        return ""
    if not isinstance(value, str):
        problems[path] = "必须是文字"
        return ""
    value = value.strip()
    if len(value) > limit:
        problems[path] = f"不能超过 {limit} 个字"
        return ""
    if required and not value:
        problems.setdefault(path, REQUIRED_MESSAGES.get(path, "必填"))
    return value

"""Operators' catalogue: products with every field a customer compares, read from a
form of strings (money typed in yuan, stored in fen) and checked field by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from .. import regions
from ..errors import Conflict, Invalid, NotFound
from ..models import CARRIERS, LEVELS, DbSession, Product, StockEntry

SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$")
MAX_FEN = 10_000_000  # 10 万元: far above any real fee; catches a slipped decimal point


@dataclass(frozen=True)
class Field:
    label: str
    kind: str  # text | longtext | money | int | bool | carrier | regions
    limit: int = 0
    required: bool = False


# Form field -> how it is read. Money fields hold yuan in the form and fen in the model
# (the model column is the field name with ``_fen``).
FIELDS: dict[str, Field] = {
    "name": Field("套餐名称", "text", 80, required=True),
    "carrier": Field("运营商", "carrier", required=True),
    "tagline": Field("卖点", "text", 120),
    "promo_tag": Field("角标", "text", 40),
    "monthly_fee": Field("优惠期月租（元）", "money", required=True),
    "promo_months": Field("优惠期（月）", "int", 120),
    "fee_after_promo": Field("优惠期后月租（元）", "money", required=True),
    "contract_months": Field("合约期（月）", "int", 120),
    "early_termination_fee": Field("违约金（元）", "money"),
    "first_recharge": Field("首充金额（元）", "money"),
    "recharge_rebate_rule": Field("首充返费规则", "longtext", 2000),
    "first_month_billing": Field("首月资费规则", "text", 120),
    "general_data_gb": Field("通用流量（GB）", "int", 10000),
    "directed_data_gb": Field("定向流量（GB）", "int", 10000),
    "voice_minutes": Field("通话（分钟）", "int", 100000),
    "number_region": Field("号码归属地", "text", 40),
    "min_age": Field("最低年龄", "int", 120, required=True),
    "max_age": Field("最高年龄", "int", 120, required=True),
    "excluded_regions": Field("禁发地区", "regions"),
    "number_selectable": Field("支持选号", "bool"),
    "listed": Field("上架", "bool"),
    "sort_order": Field("排序（小的在前）", "int", 100000),
}
COMMISSION_FIELDS = [f"commission_{level}" for level in range(len(LEVELS))]


def parse_product_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Model values from a product form; Invalid with every problem, keyed by field."""
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, spec in FIELDS.items():
        raw = (form.get(name) or "").strip()
        if spec.kind == "bool":
            values[name] = raw in {"1", "on", "true", "yes"}
            continue
        if not raw:
            if spec.required:
                problems[name] = "必填"
            elif spec.kind in {"money", "int"}:
                values[_column(name, spec)] = 0
            else:
                values[name] = [] if spec.kind == "regions" else ""
            continue
        try:
            values[_column(name, spec)] = _read(raw, spec)
        except ValueError as error:
            problems[name] = str(error)
    commissions = []
    for level, name in enumerate(COMMISSION_FIELDS):
        try:
            commissions.append(_read(form.get(name) or "0", Field(LEVELS[level], "money")))
        except ValueError as error:
            problems[name] = str(error)
    values["commission_fen"] = commissions
    if "min_age" in values and "max_age" in values and values["min_age"] > values["max_age"]:
        problems["max_age"] = "最高年龄不能小于最低年龄"
    if problems:
        raise Invalid("商品信息有误，请检查标红的字段", fields=problems)
    return values


def _column(name: str, spec: Field) -> str:
    return f"{name}_fen" if spec.kind == "money" else name


def _read(raw: str, spec: Field) -> Any:
    if spec.kind == "money":
        return yuan_to_fen(raw)
    if spec.kind == "int":
        if not raw.isdigit() or int(raw) > spec.limit:
            raise ValueError(f"须为 0 到 {spec.limit} 的整数")
        return int(raw)
    if spec.kind == "carrier":
        if raw not in CARRIERS:
            raise ValueError("请选择运营商")
        return raw
    if spec.kind == "regions":
        return parse_regions(raw)
    if len(raw) > spec.limit:
        raise ValueError(f"不能超过 {spec.limit} 个字")
    return raw


def yuan_to_fen(raw: str) -> int:
    """ "29" / "29.9" / "29.90" yuan -> 2990 fen; at most two decimals, never negative."""
    text = raw.strip().replace(",", "").removeprefix("¥").removeprefix("￥")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("请填写金额，如 29 或 29.90") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError("金额须为非负数，最多两位小数")
    fen = int(amount * 100)
    if fen > MAX_FEN:
        raise ValueError("金额过大，请检查小数点")
    return fen


def fen_to_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def parse_regions(raw: str) -> list[str]:
    """Provinces or cities, separated by commas, spaces or new lines; each must exist."""
    names = [part for part in re.split(r"[,，、;；\s]+", raw) if part]
    known = set(regions.provinces())
    cities = {city for province in known for city in regions.cities(province)}
    unknown = [name for name in names if name not in known and name not in cities]
    if unknown:
        raise ValueError("不认识的地区：" + "、".join(unknown[:5]) + "（请用全称，如 新疆维吾尔自治区）")
    return list(dict.fromkeys(names))


def product_form_values(product: Product) -> dict[str, str]:
    """A product as the strings its edit form shows."""
    values: dict[str, str] = {}
    for name, spec in FIELDS.items():
        value = getattr(product, _column(name, spec))
        if spec.kind == "money":
            values[name] = fen_to_yuan(value)
        elif spec.kind == "bool":
            values[name] = "1" if value else ""
        elif spec.kind == "regions":
            values[name] = "，".join(value or [])
        else:
            values[name] = str(value)
    for level, name in enumerate(COMMISSION_FIELDS):
        values[name] = fen_to_yuan(product.commission_for_level(level))
    return values


def create_product(session: DbSession, sku: str, values: dict[str, Any]) -> Product:
    """Add a product with no stock; stock arrives through a restock under its lock."""
    sku = sku.strip()
    if not SKU.match(sku):
        raise Invalid("商品信息有误，请检查标红的字段", fields={"sku": "SKU 为 2–40 位字母、数字、_ 或 -"})
    if session.scalars(select(Product.id).where(Product.sku == sku)).first() is not None:
        raise Conflict(f"SKU {sku} 已存在", fields={"sku": "已存在"})
    product = Product(sku=sku, stock_total=0, stock_sold=0, **values)
    session.add(product)
    session.commit()
    return product


def update_product(session: DbSession, product: Product, values: dict[str, Any]) -> Product:
    """Change a product's fields. SKU and stock are not form fields: the SKU names the
    counters on the nodes, and stock moves only through restock."""
    for name, value in values.items():
        setattr(product, name, value)
    session.commit()
    return product


def product_by_sku(session: DbSession, sku: str) -> Product:
    product = session.scalars(select(Product).where(Product.sku == sku)).one_or_none()
    if product is None:
        raise NotFound("没有这个商品")
    return product


def stock_ledger(session: DbSession, product: Product, limit: int = 100) -> list[StockEntry]:
    """The product's newest stock movements first: who added or sold what, and when."""
    return list(
        session.scalars(
            select(StockEntry).where(StockEntry.product_id == product.id).order_by(StockEntry.id.desc()).limit(limit)
        )
    )

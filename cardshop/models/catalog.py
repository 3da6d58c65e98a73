"""The catalogue: plans (号卡商品), their number pools and the stock ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, created_at_column, utcnow

CARRIERS = {"mobile": "中国移动", "unicom": "中国联通", "telecom": "中国电信", "broadnet": "中国广电"}

# Agent levels, lowest first; the index is the level number stored on agents.
LEVELS = ("普通代理", "黑钻", "金钻", "商务")


def region_excluded(excluded: Iterable[str], province: str, city: str = "") -> bool:
    """True when a list of 禁发地区 covers this province or city."""
    return any(region in (province, city, f"{province}{city}") for region in excluded)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock_sold >= 0", name="sold_not_negative"),
        CheckConstraint("stock_sold <= stock_total", name="no_oversell"),
        CheckConstraint("min_age <= max_age", name="age_range"),
        Index("ix_products_listed_sort", "listed", "sort_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    carrier: Mapped[str] = mapped_column(String(16))
    tagline: Mapped[str] = mapped_column(String(120), default="")
    promo_tag: Mapped[str] = mapped_column(String(40), default="")

    # Fees, all in fen. monthly_fee_fen applies during the promotion; after it, fee_after_promo_fen.
    monthly_fee_fen: Mapped[int]
    promo_months: Mapped[int] = mapped_column(default=0)
    fee_after_promo_fen: Mapped[int]
    contract_months: Mapped[int] = mapped_column(default=0)
    early_termination_fee_fen: Mapped[int] = mapped_column(default=0)
    first_recharge_fen: Mapped[int] = mapped_column(default=0)
    recharge_rebate_rule: Mapped[str] = mapped_column(Text, default="")
    first_month_billing: Mapped[str] = mapped_column(String(120), default="")

    # Allowance.
    general_data_gb: Mapped[int] = mapped_column(default=0)
    directed_data_gb: Mapped[int] = mapped_column(default=0)
    voice_minutes: Mapped[int] = mapped_column(default=0)

    # Who may buy, where it ships, which numbers.
    number_region: Mapped[str] = mapped_column(String(40), default="")
    min_age: Mapped[int] = mapped_column(default=16)
    max_age: Mapped[int] = mapped_column(default=60)
    excluded_regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    number_selectable: Mapped[bool] = mapped_column(default=False)

    # Commission per agent level (index into LEVELS), in fen.
    commission_fen: Mapped[list[int]] = mapped_column(JSON, default=lambda: [0, 0, 0, 0])

    listed: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    # Stock. stock_sold moves only through the guarded update in the stock service;
    # fence_token is the newest fencing token that wrote it.
    stock_total: Mapped[int] = mapped_column(default=0)
    stock_sold: Mapped[int] = mapped_column(default=0)
    fence_token: Mapped[int] = mapped_column(default=0)

    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    numbers: Mapped[list[PhoneNumber]] = relationship(back_populates="product", lazy="raise_on_sql")

    @property
    def carrier_name(self) -> str:
        return CARRIERS.get(self.carrier, self.carrier)

    @property
    def stock_available(self) -> int:
        """What the database says is left; the system of record for reconcile."""
        return self.stock_total - self.stock_sold

    def commission_for_level(self, level: int) -> int:
        amounts = list(self.commission_fen or [])
        return int(amounts[level]) if level < len(amounts) else 0

    def excludes(self, province: str, city: str = "") -> bool:
        """True when the product refuses delivery to this province or city."""
        return region_excluded(self.excluded_regions or [], province, city)

    def to_public(self, available: int | None = None) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "carrier": self.carrier,
            "carrier_name": self.carrier_name,
            "tagline": self.tagline,
            "promo_tag": self.promo_tag,
            "monthly_fee_fen": self.monthly_fee_fen,
            "promo_months": self.promo_months,
            "fee_after_promo_fen": self.fee_after_promo_fen,
            "contract_months": self.contract_months,
            "early_termination_fee_fen": self.early_termination_fee_fen,
            "first_recharge_fen": self.first_recharge_fen,
            "recharge_rebate_rule": self.recharge_rebate_rule,
            "first_month_billing": self.first_month_billing,
            "general_data_gb": self.general_data_gb,
            "directed_data_gb": self.directed_data_gb,
            "voice_minutes": self.voice_minutes,
            "number_region": self.number_region,
            "min_age": self.min_age,
            "max_age": self.max_age,
            "excluded_regions": list(self.excluded_regions or []),
            "number_selectable": self.number_selectable,
            "listed": self.listed,
            "available": self.stock_available if available is None else available,
        }


class PhoneNumber(Base):
    """A number in a product's pool (号池). Its sale is guarded by Order.number_claim."""

    __tablename__ = "phone_numbers"
    __table_args__ = (Index("ix_phone_numbers_product_status", "product_id", "status", "msisdn"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    msisdn: Mapped[str] = mapped_column(String(11), unique=True)
    status: Mapped[str] = mapped_column(String(8), default="free")  # free | sold
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", use_alter=True))
    created_at: Mapped[datetime] = created_at_column()

    product: Mapped[Product] = relationship(back_populates="numbers")


class StockEntry(Base):
    """Append-only stock ledger: every change to a product's stock, signed."""

    __tablename__ = "stock_entries"
    __table_args__ = (Index("ix_stock_entries_product_created", "product_id", "created_at"),)

    KINDS = ("restock", "sale", "release", "reconcile")

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(12))
    qty: Mapped[int]
    available_after: Mapped[int]
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    actor: Mapped[str] = mapped_column(String(60), default="system")
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = created_at_column()

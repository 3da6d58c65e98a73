"""SQLAlchemy models only: columns, relations and small pure helpers."""

from .agent import Agent
from .base import Base, DbSession
from .catalog import CARRIERS, LEVELS, PhoneNumber, Product, StockEntry
from .money import (
    BUCKETS,
    ENTRY_KINDS,
    LINE_STATES,
    ROLES,
    WITHDRAWAL_STATUSES,
    CommissionLine,
    LedgerEntry,
    UpstreamEvent,
    Wallet,
    Withdrawal,
)
from .ops import Admin, FulfilmentExport
from .order import DEAD_STATUSES, STATUSES, Order, OrderEvent
from .upstream import UpstreamSubmission

__all__ = [
    "BUCKETS",
    "CARRIERS",
    "DEAD_STATUSES",
    "ENTRY_KINDS",
    "LEVELS",
    "LINE_STATES",
    "ROLES",
    "STATUSES",
    "WITHDRAWAL_STATUSES",
    "Admin",
    "Agent",
    "Base",
    "CommissionLine",
    "DbSession",
    "FulfilmentExport",
    "LedgerEntry",
    "Order",
    "OrderEvent",
    "PhoneNumber",
    "Product",
    "StockEntry",
    "UpstreamEvent",
    "UpstreamSubmission",
    "Wallet",
    "Withdrawal",
]

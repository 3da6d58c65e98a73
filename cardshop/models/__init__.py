"""SQLAlchemy models only: columns, relations and small pure helpers."""

from .agent import Agent
from .base import Base, DbSession, end_reads, is_disconnect
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
from .risk import BLOCK_KINDS, BlockEntry
from .upstream import UpstreamSubmission

__all__ = [
    "BLOCK_KINDS",
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
    "BlockEntry",
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
    "end_reads",
    "is_disconnect",
]

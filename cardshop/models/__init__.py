"""SQLAlchemy models only: columns, relations and small pure helpers."""

from .agent import Agent
from .base import Base, DbSession
from .catalog import CARRIERS, LEVELS, PhoneNumber, Product, StockEntry
from .order import DEAD_STATUSES, STATUSES, Order, OrderEvent
from .risk import BLOCK_KINDS, BlockEntry

__all__ = [
    "BLOCK_KINDS",
    "CARRIERS",
    "DEAD_STATUSES",
    "LEVELS",
    "STATUSES",
    "Agent",
    "Base",
    "BlockEntry",
    "DbSession",
    "Order",
    "OrderEvent",
    "PhoneNumber",
    "Product",
    "StockEntry",
]

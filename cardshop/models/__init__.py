"""SQLAlchemy models only: columns, relations and small pure helpers."""

from .agent import Agent
from .base import Base, DbSession
from .catalog import CARRIERS, LEVELS, PhoneNumber, Product, StockEntry
from .order import DEAD_STATUSES, STATUSES, Order, OrderEvent

__all__ = [
    "CARRIERS",
    "DEAD_STATUSES",
    "LEVELS",
    "STATUSES",
    "Agent",
    "Base",
    "DbSession",
    "Order",
    "OrderEvent",
    "PhoneNumber",
    "Product",
    "StockEntry",
]

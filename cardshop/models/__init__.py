"""SQLAlchemy models only: columns, relations and small pure helpers."""

from .agent import Agent
from .base import Base, DbSession
from .catalog import CARRIERS, LEVELS, PhoneNumber, Product, StockEntry
from .ops import Admin, FulfilmentExport
from .order import DEAD_STATUSES, STATUSES, Order, OrderEvent
from .upstream import UpstreamSubmission

__all__ = [
    "CARRIERS",
    "DEAD_STATUSES",
    "LEVELS",
    "STATUSES",
    "Admin",
    "Agent",
    "Base",
    "DbSession",
    "FulfilmentExport",
    "Order",
    "OrderEvent",
    "PhoneNumber",
    "Product",
    "StockEntry",
    "UpstreamSubmission",
]

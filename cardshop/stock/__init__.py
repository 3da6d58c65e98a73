"""The stock core: nodes, locks and fencing, Lua scripts, the stock service."""

from .locks import Fence, LockManager
from .nodes import NodeSet, connect
from .service import AlreadyApplied, ReconcileRow, StockService

__all__ = ["AlreadyApplied", "Fence", "LockManager", "NodeSet", "ReconcileRow", "StockService", "connect"]

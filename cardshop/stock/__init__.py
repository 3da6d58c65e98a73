"""The stock core: nodes, locks and fencing, Lua scripts, combining, the stock service."""

from .combine import Combiner
from .locks import Fence, LockManager
from .nodes import NodeSet, connect
from .selling import AlreadyApplied, SoldProduct
from .service import ReconcileRow, StockService
from .soldout import SoldOutLeases

__all__ = [
    "AlreadyApplied",
    "Combiner",
    "Fence",
    "LockManager",
    "NodeSet",
    "ReconcileRow",
    "SoldOutLeases",
    "SoldProduct",
    "StockService",
    "connect",
]

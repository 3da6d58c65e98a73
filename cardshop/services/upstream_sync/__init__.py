"""Sending orders to upstream (the carrier or distributor that opens the cards) and
following their status there. Inbound signed callbacks live with the agent backend;
this package pushes orders and polls."""

from .adapters import Adapter, StatusReport, SubmitResult, UpstreamError
from .factory import adapter_from_config
from .http_json import HttpJsonAdapter
from .manual import ManualAdapter, import_statuses
from .sync import poll_statuses, submit_order, submit_pending

__all__ = [
    "Adapter",
    "HttpJsonAdapter",
    "ManualAdapter",
    "StatusReport",
    "SubmitResult",
    "UpstreamError",
    "adapter_from_config",
    "import_statuses",
    "poll_statuses",
    "submit_order",
    "submit_pending",
]

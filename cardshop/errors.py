"""Domain exceptions.

Services and the stock core raise these; one error handler per kind maps them to
HTTP (JSON under /api, a page elsewhere) with a stable ``code`` string.
"""

from __future__ import annotations


class CardshopError(Exception):
    """Base of every domain error: a stable code, an HTTP status and a human message."""

    code = "error"
    status = 400
    message = "请求无法处理"

    def __init__(self, message: str | None = None, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields or {}

    @property
    def retry_after(self) -> int | None:
        return None


class ConfigError(CardshopError):
    """A missing or malformed setting; raised at start-up, never at a request."""

    code = "config"
    status = 500


class Invalid(CardshopError):
    code = "invalid"
    status = 422
    message = "提交的信息有误，请检查后重试"


class BadRequest(CardshopError):
    code = "bad_request"
    status = 400
    message = "请求格式不正确"


class NotFound(CardshopError):
    code = "not_found"
    status = 404
    message = "没有找到该内容"


class SoldOut(CardshopError):
    code = "sold_out"
    status = 409
    message = "该套餐已售罄"


class NumberTaken(CardshopError):
    code = "number_taken"
    status = 409
    message = "该号码已被他人选走，请换一个号码"


class RiskRefused(CardshopError):
    code = "risk_refused"
    status = 422
    message = "该订单未通过风控审核"


class Conflict(CardshopError):
    code = "conflict"
    status = 409
    message = "请求与当前状态冲突"


class StockUnavailable(CardshopError):
    """Fewer than a majority of the Redis nodes answered: nothing was sold."""

    code = "stock_unavailable"
    status = 503
    message = "库存服务暂时不可用，请稍后再试"

    @property
    def retry_after(self) -> int | None:
        return 2


class Busy(CardshopError):
    """The product's lock was not won before the deadline: nothing was sold."""

    code = "busy"
    status = 503
    message = "当前抢购人数较多，请稍后重试"

    @property
    def retry_after(self) -> int | None:
        return 1


class DatabaseUnavailable(CardshopError):
    code = "database_unavailable"
    status = 503
    message = "系统繁忙，请稍后再试"

    @property
    def retry_after(self) -> int | None:
        return 2

"""A process-local, short-lived copy of the catalogue for the order path.

Refusing an order for a sold-out or unlisted plan must not touch the database (a
flash sale sends thousands of those a second), so the terms an order is checked
against are read once per product every CATALOG_CACHE_SECONDS and shared by the
threads of the process. A listing change made by an operator reaches every process
within that time; the stock itself is never cached (it lives on the counters).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import NotFound
from ..models import DbSession, Product
from ..models.catalog import region_excluded

CACHE_SECONDS = 2.0
REFRESH_AT_ONCE = 200  # expired entries one refresh reads together


@dataclass(frozen=True)
class ProductTerms:
    """What the order path needs to know about a plan."""

    id: int
    sku: str
    name: str
    carrier: str
    listed: bool
    monthly_fee_fen: int
    min_age: int
    max_age: int
    excluded_regions: tuple[str, ...]
    number_selectable: bool

    @classmethod
    def of(cls, product: Product) -> ProductTerms:
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            carrier=product.carrier,
            listed=product.listed,
            monthly_fee_fen=product.monthly_fee_fen,
            min_age=product.min_age,
            max_age=product.max_age,
            excluded_regions=tuple(product.excluded_regions or ()),
            number_selectable=product.number_selectable,
        )

    def excludes(self, province: str, city: str = "") -> bool:
        return region_excluded(self.excluded_regions, province, city)


class TermsCache:
    """Terms of plans by sku, each at most ``max_age`` seconds old; one per app and process."""

    def __init__(self, max_age: float = CACHE_SECONDS) -> None:
        self.max_age = max_age
        self._entries: dict[str, tuple[float, ProductTerms | None]] = {}
        self._refreshing: set[str] = set()
        self._guard = threading.Lock()

    def listed(self, session: DbSession, sku: str) -> ProductTerms:
        """The terms of a listed plan; NotFound for an unknown or unlisted sku.

        When an entry expires, one thread reads it again while the others go on with
        the expired copy: under a flash sale every thread of the process would
        otherwise read the same row at the same moment. That read takes every other
        expired entry along (up to REFRESH_AT_ONCE), so a sale spread over many plans
        reads them in one query every ``max_age`` rather than in one query each."""
        now = time.monotonic()
        cached = self._entries.get(sku)
        if cached is None or now - cached[0] > self.max_age:
            with self._guard:
                refresh = [] if cached is not None and sku in self._refreshing else [sku]
                if refresh:
                    refresh += [
                        other
                        for other, (seen, _) in self._entries.items()
                        if now - seen > self.max_age and other != sku and other not in self._refreshing
                    ][: REFRESH_AT_ONCE - 1]
                    self._refreshing.update(refresh)
            if refresh:
                try:
                    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(refresh)))}
                    fresh = {one: (now, ProductTerms.of(found[one]) if one in found else None) for one in refresh}
                    with self._guard:
                        if len(self._entries) > 10_000:  # unknown skus from a crawler must not grow it forever
                            self._entries.clear()
                        self._entries.update(fresh)
                    cached = fresh[sku]
                finally:
                    with self._guard:
                        self._refreshing.difference_update(refresh)
        assert cached is not None
        terms = cached[1]
        if terms is None or not terms.listed:
            raise NotFound("没有找到该套餐，或已下架")
        return terms

    def forget(self, sku: str | None = None) -> None:
        """Drop cached terms (all of them without a sku), e.g. after an operator's edit."""
        with self._guard:
            if sku is None:
                self._entries.clear()
            else:
                self._entries.pop(sku, None)

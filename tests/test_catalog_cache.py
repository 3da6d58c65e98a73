"""The order path's copy of the catalogue: shared by threads, read again when it expires."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event, update

from cardshop.errors import NotFound
from cardshop.extensions import db
from cardshop.models import Product, end_reads
from cardshop.services.catalog import TermsCache


@contextlib.contextmanager
def product_reads() -> Iterator[list[str]]:
    """The statements that read the products table while the block runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "FROM products" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def expire(cache: TermsCache) -> None:
    for sku, (_seen, terms) in list(cache._entries.items()):
        cache._entries[sku] = (time.monotonic() - cache.max_age - 1, terms)


def test_expired_plans_are_read_again_together(app, make_product) -> None:
    skus = [f"C-{i}" for i in range(5)]
    for sku in skus:
        make_product(sku, 3)
    cache = TermsCache(max_age=60)
    with product_reads() as reads:
        for sku in skus:
            cache.listed(db.session, sku)
    assert len(reads) == 5  # nothing was cached yet: one read each

    db.session.execute(update(Product).where(Product.sku == "C-3").values(monthly_fee_fen=1900))
    db.session.commit()
    expire(cache)
    with product_reads() as reads:
        assert cache.listed(db.session, "C-0").sku == "C-0"
        for sku in skus:
            cache.listed(db.session, sku)
    assert len(reads) == 1  # the first expired entry took the other four along
    assert cache.listed(db.session, "C-3").monthly_fee_fen == 1900  # and they are the new terms


def test_plans_delisted_or_unknown_are_not_found_after_the_refresh(app, make_product) -> None:
    make_product("D-1", 3)
    make_product("D-2", 3)
    cache = TermsCache(max_age=60)
    cache.listed(db.session, "D-1")
    cache.listed(db.session, "D-2")
    with pytest.raises(NotFound):
        cache.listed(db.session, "D-UNKNOWN")
    db.session.execute(update(Product).where(Product.sku == "D-2").values(listed=False))
    db.session.commit()
    expire(cache)
    assert cache.listed(db.session, "D-1").sku == "D-1"
    for sku in ("D-2", "D-UNKNOWN"):
        with product_reads() as reads, pytest.raises(NotFound):
            cache.listed(db.session, sku)
        assert reads == []  # refreshed along with D-1: known to be gone without another read


def test_end_reads_rolls_back_a_session_that_read(app, make_product) -> None:
    make_product("E-1", 3)
    db.session.scalars(db.select(Product)).all()
    assert db.session().in_transaction()
    end_reads(db.session)
    assert not db.session().in_transaction()


def test_end_reads_makes_no_session_where_none_was_used(app) -> None:
    db.session.remove()
    end_reads(db.session)
    assert not db.session.registry.has()

"""The browser rig itself: Debian's Chromium renders the app's pages, Chinese included."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.gunicorn]


def test_chromium_renders_an_error_page_in_chinese(serve, app, phone, screenshot) -> None:
    server = serve(workers=1)
    page = phone().new_page()
    response = page.goto(f"{server.url}/no-such-page")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "页面不存在"
    screenshot(page, "404")

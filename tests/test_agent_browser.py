"""The agent's whole journey on a phone, against real gunicorn: register with 00168, verify,
copy the shop link, a customer buys through it, signed callbacks activate and recharge the
card, ``settle`` runs, and the agent sees the settled money and withdraws it.

The shop front's order form is built elsewhere; the customer's purchase goes through
``POST /api/orders`` with the shop code, as the form will. Everything the agent does is
in the browser."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from cardshop import runtime
from cardshop.extensions import db
from cardshop.services import upstream
from cardshop.services.demo import load_demo

from .support import ROOT, id_card, order_payload

pytestmark = [pytest.mark.browser, pytest.mark.gunicorn]
SECRET = "browser-test-secret"


def signed(server_url: str, body: dict) -> requests.Response:
    raw = json.dumps(body).encode()
    headers = {"X-Signature": upstream.sign(raw, SECRET), "Content-Type": "application/json"}
    return requests.post(f"{server_url}/api/upstream/callback", data=raw, headers=headers, timeout=10)


def test_an_agent_registers_sells_gets_settled_and_withdraws(app, serve, gunicorn_env, phone, screenshot) -> None:
    load_demo(db.session)
    runtime.stock().reconcile(actor="test")
    server = serve(workers=2, CARDSHOP_UPSTREAM_SECRET=SECRET)
    context = phone()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()

    page.goto(f"{server.url}/agent/register?invite=00168")
    assert page.locator("#invite").input_value() == "00168"
    page.fill("#phone", "13612345678")
    page.fill("#password", "goodpass88")
    page.fill("#confirm", "goodpass88")
    screenshot(page, "1-register")
    page.click("button[type=submit]")
    page.wait_for_url("**/agent/verify")
    assert "店铺未开通" in page.content()

    page.fill("#name", "赵六")
    page.fill("#id_card", id_card("19880808", "135"))
    page.click("button[type=submit]")
    page.wait_for_url("**/agent/shop")
    assert page.get_by_test_id("shop-state").inner_text() == "已开通"
    page.click("button[data-copy='#shop-link']")
    page.get_by_text("已复制").wait_for()
    shop_link = page.evaluate("navigator.clipboard.readText()")
    assert shop_link == page.locator("#shop-link").input_value() and "/s/" in shop_link
    screenshot(page, "2-shop")
    shop_code = shop_link.rsplit("/s/", 1)[1]

    # A customer buys through the link (the shop front posts this for them).
    bought = requests.post(
        f"{server.url}/api/orders",
        json=order_payload("CU-DAWANG-19", 5, shop_code=shop_code),
        headers={"Idempotency-Key": "browser-sale-1"},
        timeout=10,
    )
    assert bought.status_code == 201, bought.text
    order_no = bought.json()["order_no"]
    page.goto(f"{server.url}/agent/")
    assert page.get_by_test_id("pending").inner_text() == "¥50.00"

    # Upstream reports the card's life; it was activated two months ago, so it is due now.
    activated = datetime.now(UTC) - timedelta(days=70)
    events = [
        {"event": "submitted"},
        {"event": "shipped", "courier": "中通快递", "tracking_no": "ZT7788"},
        {"event": "activated", "at": activated.isoformat()},
        {"event": "recharged", "at": (activated + timedelta(hours=2)).isoformat()},
    ]
    for n, event in enumerate(events):
        answer = signed(server.url, {"event_id": f"b-{n}", "order_no": order_no, **event})
        assert answer.status_code == 200, answer.text
    page.reload()
    assert page.get_by_test_id("frozen").inner_text() == "¥50.00"

    settle = subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "cardshop", "settle"],
        cwd=ROOT,
        env={**gunicorn_env, "PATH": "/usr/bin:/bin", "CARDSHOP_UPSTREAM_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "1 order(s) settled" in settle.stdout, settle.stdout + settle.stderr

    page.reload()
    assert page.get_by_test_id("settled").first.inner_text() == "¥50.00"
    screenshot(page, "3-dashboard-settled")
    page.goto(f"{server.url}/agent/orders/{order_no}")
    assert "已结算" in page.content() and "中通快递" in page.content()

    page.goto(f"{server.url}/agent/withdrawals")
    page.fill("#amount", "50")
    page.select_option("#payout_method", "alipay")
    page.fill("#payout_account", "zhaoliu@example.com")
    page.click("button[type=submit]")
    assert page.get_by_test_id("fee").inner_text() == "-¥3.00"
    assert page.get_by_test_id("net").inner_text() == "¥47.00"
    screenshot(page, "4-withdraw-confirm")
    page.get_by_role("button", name="确认提现").click()
    page.get_by_text("提现申请已提交").wait_for()
    assert page.get_by_test_id("settled").inner_text() == "¥0.00"
    assert "审核中" in page.content()
    screenshot(page, "5-withdrawn")

"""The order desk: operators find orders, move them through fulfilment, and take the
fulfilment export -- the only place personal data leaves unmasked, and every time
it does, who took it and when is on record."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from cardshop.extensions import db
from cardshop.models import FulfilmentExport, Order, PhoneNumber, Product, UpstreamSubmission

from .ops_fixtures import fast_hashing, operator, ops, place  # noqa: F401
from .support import id_card


def test_the_list_filters_and_never_shows_full_id_numbers(ops, client, make_product) -> None:  # noqa: F811
    make_product("T-1", stock_total=5)
    make_product("T-2", stock_total=5)
    first = place(client, "T-1", 1)
    second = place(client, "T-2", 2)
    page = ops.get("/ops/orders").text
    assert first.order_no in page and second.order_no in page
    assert first.id_card not in page and first.customer_phone not in page
    assert "张*" in page and "138****0001" in page
    only_t2 = ops.get("/ops/orders?sku=T-2").text
    assert second.order_no in only_t2 and first.order_no not in only_t2
    assert first.order_no not in ops.get("/ops/orders?status=shipped").text
    today = first.created_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
    assert first.order_no in ops.get(f"/ops/orders?date_from={today}&date_to={today}").text
    assert first.order_no not in ops.get("/ops/orders?date_to=2020-01-01").text
    assert ops.get("/ops/orders?date_from=yesterday").status_code == 422


def test_an_operator_submits_ships_and_the_customer_sees_it(ops, client, make_product) -> None:  # noqa: F811
    make_product("T-1", stock_total=5)
    order = place(client, "T-1", 1)
    assert ops.post(f"/ops/orders/{order.order_no}/submit").status_code == 302
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "opening"
    submission = db.session.scalars(select(UpstreamSubmission)).one()
    assert (submission.adapter, submission.state) == ("manual", "sent")
    bad = ops.post(
        f"/ops/orders/{order.order_no}/ship", data={"courier": "顺丰速运", "tracking_no": "x"}, follow_redirects=True
    )
    assert "运单号为" in bad.text
    ops.post(f"/ops/orders/{order.order_no}/ship", data={"courier": "顺丰速运", "tracking_no": "SF1234567890"})
    seen = client.get(f"/api/orders/{order.order_no}?phone={order.customer_phone}").json
    assert (seen["status"], seen["courier"], seen["tracking_no"]) == ("shipped", "顺丰速运", "SF1234567890")
    assert [step["status"] for step in seen["timeline"]] == ["submitted", "opening", "shipped"]
    history = ops.get(f"/ops/orders/{order.order_no}").text
    assert "admin:ops-wang" in history and "已发货" in history


def test_failing_an_order_gives_its_stock_and_number_back_with_a_reason(ops, client, make_product, stock) -> None:  # noqa: F811
    product = make_product("T-1", stock_total=2, number_selectable=True)
    db.session.add(PhoneNumber(product_id=product.id, msisdn="13912345678"))
    db.session.commit()
    order = place(client, "T-1", 1, number="13912345678")
    assert stock.counters(["T-1"]) == [[1], [1], [1]]
    empty = ops.post(
        f"/ops/orders/{order.order_no}/fail", data={"target": "rejected", "reason": ""}, follow_redirects=True
    )
    assert "请填写客户能看懂的原因" in empty.text
    wrong = ops.post(
        f"/ops/orders/{order.order_no}/fail",
        data={"target": "open_failed", "reason": "号码异常"},
        follow_redirects=True,
    )
    assert "不能改为这个状态" in wrong.text
    ops.post(f"/ops/orders/{order.order_no}/fail", data={"target": "rejected", "reason": "身份证信息与姓名不符"})
    seen = client.get(f"/api/orders/{order.order_no}?phone={order.customer_phone}").json
    assert (seen["status"], seen["reason"]) == ("rejected", "身份证信息与姓名不符")
    assert stock.counters(["T-1"]) == [[2], [2], [2]]
    assert db.session.scalar(select(PhoneNumber.status)) == "free"
    assert db.session.scalar(select(Product.stock_sold)) == 0


def test_the_export_is_unmasked_and_every_export_is_recorded(ops, client, make_product, operator) -> None:  # noqa: F811
    make_product("T-1", stock_total=5)
    make_product("T-2", stock_total=5)
    one = place(client, "T-1", 1, address={"detail": '=HYPERLINK("x")科技园1号'})
    place(client, "T-2", 2)
    response = ops.get("/ops/orders/export.csv?sku=T-1")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"] and response.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["订单号", "下单时间", "状态"] and len(rows) == 2
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["订单号"] == one.order_no and record["身份证号"] == id_card("19700101", "001") == one.id_card
    assert record["联系电话"] == "13800000001" and record["姓名"] == "张三"
    assert record["详细地址"].startswith("'="), "a formula typed by a customer is not run by Excel"
    ops.get("/ops/orders/export.csv?status=submitted")
    exports = db.session.scalars(select(FulfilmentExport).order_by(FulfilmentExport.id)).all()
    assert [(e.admin_id, e.row_count, e.filters) for e in exports] == [
        (operator.id, 1, {"sku": "T-1"}),
        (operator.id, 2, {"status": "submitted"}),
    ]
    assert exports[0].order_nos == [one.order_no]
    log = ops.get("/ops/exports").text
    assert "运营小王" in log and "sku=T-1" in log


def test_an_operator_imports_statuses_from_upstream(ops, client, make_product, stock) -> None:  # noqa: F811
    make_product("T-1", stock_total=5)
    orders = [place(client, "T-1", n) for n in range(1, 4)]
    for order in orders:
        ops.post(f"/ops/orders/{order.order_no}/submit")
    bad = (
        "订单号,状态,快递公司,运单号,原因\n"
        + f"{orders[0].order_no},已发货,顺丰速运,,\n"
        + "999,shipped,顺丰速运,SF1,\n"
    )
    response = ops.post(
        "/ops/orders/statuses",
        data={"file": (io.BytesIO(bad.encode()), "s.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "第 2 行" in response.text and "第 3 行" in response.text
    db.session.expire_all()
    assert {db.session.get(Order, o.id).status for o in orders} == {"opening"}
    good = (
        "order_no,status,courier,tracking_no,reason\n"
        f"{orders[0].order_no},activated,京东物流,JD0001234567,\n"
        f"{orders[1].order_no},开卡失败,,,号码已被运营商回收\n"
        f"{orders[2].order_no},opening,,,\n"
    )
    response = ops.post(
        "/ops/orders/statuses", data={"file": (io.BytesIO(good.encode()), "s.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 200 and "已更新 2 个订单" in response.text
    db.session.expire_all()
    first, second, third = (db.session.get(Order, o.id) for o in orders)
    assert (first.status, first.tracking_no) == ("activated", "JD0001234567")
    assert [e.to_status for e in first.events] == ["submitted", "opening", "shipped", "activated"]
    assert (second.status, second.status_reason) == ("open_failed", "号码已被运营商回收")
    assert third.status == "opening" and stock.counters(["T-1"]) == [[3], [3], [3]]

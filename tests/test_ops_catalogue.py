"""Operators build the catalogue: every product field from the form, stock added under
the product's lock with a signed ledger, number pools loaded all or nothing."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import PhoneNumber, Product, StockEntry

from .ops_fixtures import fast_hashing, operator, ops  # noqa: F401

FORM = {
    "sku": "CU-NEW-29",
    "name": "联通新星卡 29元",
    "carrier": "unicom",
    "tagline": "185G通用+30G定向",
    "promo_tag": "首年优惠",
    "monthly_fee": "29",
    "promo_months": "12",
    "fee_after_promo": "39.90",
    "contract_months": "12",
    "early_termination_fee": "50",
    "first_recharge": "100",
    "recharge_rebate_rule": "首充100元，分10个月返还",
    "first_month_billing": "首月按天折算",
    "general_data_gb": "185",
    "directed_data_gb": "30",
    "voice_minutes": "100",
    "number_region": "广东广州",
    "min_age": "18",
    "max_age": "55",
    "excluded_regions": "新疆维吾尔自治区，西藏自治区 三亚市",
    "number_selectable": "1",
    "listed": "1",
    "sort_order": "3",
    "commission_0": "60",
    "commission_1": "80.5",
    "commission_2": "95",
    "commission_3": "110",
    "initial_stock": "40",
}


def test_an_operator_creates_a_product_with_every_field(ops, stock) -> None:  # noqa: F811
    response = ops.post("/ops/products/new", data=FORM)
    assert response.status_code == 302 and response.headers["Location"] == "/ops/products/CU-NEW-29"
    product = db.session.scalars(select(Product).where(Product.sku == "CU-NEW-29")).one()
    assert (product.monthly_fee_fen, product.fee_after_promo_fen, product.early_termination_fee_fen) == (
        2900,
        3990,
        5000,
    )
    assert product.first_recharge_fen == 10000 and product.commission_fen == [6000, 8050, 9500, 11000]
    assert product.excluded_regions == ["新疆维吾尔自治区", "西藏自治区", "三亚市"]
    assert (product.min_age, product.max_age, product.number_selectable, product.listed) == (18, 55, True, True)
    assert (product.general_data_gb, product.directed_data_gb, product.voice_minutes) == (185, 30, 100)
    assert product.recharge_rebate_rule == "首充100元，分10个月返还" and product.sort_order == 3
    assert product.stock_total == 40 and stock.counters(["CU-NEW-29"]) == [[40], [40], [40]]
    entry = db.session.scalars(select(StockEntry).where(StockEntry.product_id == product.id)).one()
    assert (entry.kind, entry.qty, entry.actor) == ("restock", 40, "admin:ops-wang")
    page = ops.get("/ops/products/CU-NEW-29/edit").text
    assert 'value="39.90"' in page and 'value="80.50"' in page and "新疆维吾尔自治区，西藏自治区，三亚市" in page


def test_bad_fields_are_reported_one_by_one_and_nothing_is_saved(ops) -> None:  # noqa: F811
    bad = {**FORM, "monthly_fee": "29.999", "carrier": "xx", "min_age": "60", "max_age": "20"}
    bad |= {"excluded_regions": "火星", "commission_2": "-5", "sku": "坏 sku"}
    response = ops.post("/ops/products/new", data=bad)
    assert response.status_code == 422
    for message in ("最多两位小数", "请选择运营商", "最高年龄不能小于最低年龄", "不认识的地区：火星", "金额须为非负数"):
        assert message in response.text
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
    duplicate = ops.post("/ops/products/new", data={**FORM, "initial_stock": ""})
    assert duplicate.status_code == 302
    again = ops.post("/ops/products/new", data={**FORM, "initial_stock": ""})
    assert again.status_code == 422 and "已存在" in again.text


def test_editing_changes_fields_and_unlisting_hides_the_product(ops, client, make_product) -> None:  # noqa: F811
    make_product("T-1", stock_total=5)
    form = {**FORM, "name": "改名后的卡", "listed": "", "commission_3": "120"}
    del form["sku"]
    assert ops.post("/ops/products/T-1/edit", data=form).status_code == 302
    product = db.session.scalars(select(Product).where(Product.sku == "T-1")).one()
    assert product.name == "改名后的卡" and product.listed is False and product.commission_fen[3] == 12000
    assert product.stock_total == 5, "editing never touches stock"
    assert client.get("/api/products/T-1").status_code == 404
    assert ops.get("/ops/products").status_code == 200 and "改名后的卡" in ops.get("/ops/products").text


def test_restock_runs_under_the_lock_and_the_ledger_says_who(ops, make_product, stock) -> None:  # noqa: F811
    make_product("T-1", stock_total=5)
    assert ops.post("/ops/products/T-1/restock", data={"qty": "20", "note": "批次 A-7"}).status_code == 302
    assert ops.post("/ops/products/T-1/restock", data={"qty": "-3"}).status_code == 302
    assert stock.counters(["T-1"]) == [[22], [22], [22]]
    page = ops.get("/ops/products/T-1").text
    assert "批次 A-7" in page and "admin:ops-wang" in page and "+20" in page and "-3" in page
    refused = ops.post("/ops/products/T-1/restock", data={"qty": "-100"}, follow_redirects=True)
    assert "补货失败" in refused.text and stock.counters(["T-1"]) == [[22], [22], [22]]
    assert "请填写非零整数" in ops.post("/ops/products/T-1/restock", data={"qty": "abc"}, follow_redirects=True).text


def upload(client, sku: str, text: str, name: str = "numbers.csv"):  # type: ignore[no-untyped-def]
    data = {"file": (io.BytesIO(text.encode("utf-8-sig")), name)}
    return client.post(f"/ops/products/{sku}/numbers", data=data, content_type="multipart/form-data")


def test_a_number_file_with_bad_lines_imports_nothing_and_names_the_lines(ops, make_product) -> None:  # noqa: F811
    make_product("T-1", stock_total=5, number_selectable=True)
    make_product("T-2", stock_total=5, number_selectable=True)
    db.session.add(
        PhoneNumber(
            product_id=db.session.scalars(select(Product.id).where(Product.sku == "T-2")).one(), msisdn="13900000009"
        )
    )
    db.session.commit()
    text = "号码\n13912345678\n1391234567\n\n13912345679\n13912345678\n13900000009\nabc\n"
    response = upload(ops, "T-1", text)
    assert response.status_code == 422
    assert "第 3 行「1391234567」：不是有效的11位手机号" in response.text
    assert "第 6 行「13912345678」：与第 2 行重复" in response.text
    assert "第 7 行「13900000009」：号码已在号池中（T-2）" in response.text
    assert "第 8 行「abc」" in response.text and "未导入任何号码" in response.text
    assert db.session.scalar(select(func.count()).select_from(PhoneNumber)) == 1


def test_a_clean_number_file_fills_the_pool(ops, make_product, client) -> None:  # noqa: F811
    make_product("T-1", stock_total=5, number_selectable=True)
    numbers = [f"1391234{i:04d}" for i in range(300)]
    response = upload(ops, "T-1", "msisdn,备注\n" + "\n".join(f"{n},靓号" for n in numbers) + "\n")
    assert response.status_code == 200 and "已导入 300 个号码" in response.text
    assert db.session.scalar(select(func.count()).select_from(PhoneNumber)) == 300
    assert "300 / 0" in ops.get("/ops/products/T-1").text


def test_import_numbers_from_the_command_line(app, make_product, tmp_path) -> None:
    make_product("T-1", stock_total=5, number_selectable=True)
    good = tmp_path / "good.csv"
    good.write_text("13800000001\n13800000002\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("13800000003\n12345\n")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cardshop", "import-numbers", "T-1", str(bad)])
    assert result.exit_code != 0 and "line 2" in result.output and "nothing imported" in result.output
    result = runner.invoke(args=["cardshop", "import-numbers", "T-1", str(good)])
    assert result.exit_code == 0 and "2 numbers imported" in result.output
    assert sorted(db.session.scalars(select(PhoneNumber.msisdn))) == ["13800000001", "13800000002"]

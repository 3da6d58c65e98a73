"""Catalogue pages: products with every field, restock under the product lock, number pools."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import runtime
from ..errors import CardshopError, Invalid
from ..extensions import db
from ..models import CARRIERS, LEVELS, Product
from ..services import number_pool, product_forms
from . import acting_admin, bp


@bp.get("/products")
def products() -> str:
    rows = list(db.session.scalars(select(Product).order_by(Product.sort_order, Product.id)))
    return render_template("ops/products.html", products=rows)


def _render_form(product: Product | None, values: dict[str, str], problems: dict[str, str], status: int = 200):  # type: ignore[no-untyped-def]
    page = render_template(
        "ops/product_form.html",
        product=product,
        values=values,
        problems=problems,
        fields=product_forms.FIELDS,
        commission_fields=list(zip(product_forms.COMMISSION_FIELDS, LEVELS, strict=True)),
        carriers=CARRIERS,
    )
    return page, status


@bp.route("/products/new", methods=["GET", "POST"])
def new_product():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _render_form(None, {"min_age": "16", "max_age": "60", "listed": "1", "sort_order": "0"}, {})
    form = request.form.to_dict()
    try:
        values = product_forms.parse_product_form(form)
        product = product_forms.create_product(db.session, form.get("sku", ""), values)
    except CardshopError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_form(None, form, error.fields, 422)
    initial = form.get("initial_stock", "").strip()
    flash(f"已创建商品 {product.sku}", "info")
    if initial.isdigit() and int(initial) > 0:
        try:
            runtime.stock().restock(product.sku, int(initial), actor=acting_admin().actor, note="上架初始库存")
        except CardshopError as error:
            flash(f"初始库存未添加：{error.message}，请在商品页补货", "error")
    return redirect(url_for("ops.product", sku=product.sku))


@bp.route("/products/<sku>/edit", methods=["GET", "POST"])
def edit_product(sku: str):  # type: ignore[no-untyped-def]
    product = product_forms.product_by_sku(db.session, sku)
    if request.method == "GET":
        return _render_form(product, product_forms.product_form_values(product), {})
    form = request.form.to_dict()
    try:
        product_forms.update_product(db.session, product, product_forms.parse_product_form(form))
    except Invalid as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_form(product, form, error.fields, 422)
    flash("已保存", "info")
    return redirect(url_for("ops.product", sku=sku))


@bp.get("/products/<sku>")
def product(sku: str) -> str:
    found = product_forms.product_by_sku(db.session, sku)
    return render_template(
        "ops/product.html",
        product=found,
        ledger=product_forms.stock_ledger(db.session, found),
        pool=number_pool.pool_counts(db.session, found),
        report=None,
    )


@bp.post("/products/<sku>/restock")
def restock(sku: str) -> Response:
    found = product_forms.product_by_sku(db.session, sku)
    raw = request.form.get("qty", "").strip()
    note = request.form.get("note", "").strip()[:200]
    admin = acting_admin()
    if not raw.lstrip("-").isdigit() or int(raw) == 0 or abs(int(raw)) > 1_000_000:
        flash("请填写非零整数（负数表示减少未售库存）", "error")
        return redirect(url_for("ops.product", sku=sku))
    try:
        available = runtime.stock().restock(found.sku, int(raw), actor=admin.actor, note=note)
    except CardshopError as error:
        flash(f"补货失败：{error.message}", "error")
    else:
        flash(f"{found.sku} 库存 {int(raw):+d}，当前可售 {available}", "info")
    return redirect(url_for("ops.product", sku=sku))


@bp.post("/products/<sku>/numbers")
def import_numbers(sku: str):  # type: ignore[no-untyped-def]
    found = product_forms.product_by_sku(db.session, sku)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要上传的 CSV 文件", "error")
        return redirect(url_for("ops.product", sku=sku))
    report = number_pool.import_numbers(db.session, found, upload.read())
    if report.problems:
        flash(f"导入失败：{len(report.problems)} 行有问题，未导入任何号码。请修改后重新上传。", "error")
    else:
        flash(f"已导入 {report.added} 个号码", "info")
    page = render_template(
        "ops/product.html",
        product=found,
        ledger=product_forms.stock_ledger(db.session, found),
        pool=number_pool.pool_counts(db.session, found),
        report=report,
    )
    return page, (422 if report.problems else 200)

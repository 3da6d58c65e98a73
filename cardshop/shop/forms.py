"""The shop's forms. Flask-WTF gives them CSRF protection; the order's own rules live
in services/order_input.py, shared with the API, and its errors are mapped onto
these fields by name."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField

from .. import regions

# order_input's field paths -> this form's fields.
ORDER_FIELDS = {
    "customer.name": "name",
    "customer.id_card": "id_card",
    "customer.phone": "phone",
    "address.province": "province",
    "address.city": "city",
    "address.district": "district",
    "address.detail": "detail",
}


class OrderForm(FlaskForm):
    name = StringField("机主姓名", render_kw={"placeholder": "与身份证一致", "autocomplete": "name", "maxlength": 20})
    id_card = StringField(
        "身份证号码", render_kw={"placeholder": "18位身份证号码", "maxlength": 18, "autocomplete": "off"}
    )
    phone = StringField(
        "联系电话",
        render_kw={"placeholder": "接收物流和开卡通知", "maxlength": 11, "inputmode": "numeric", "autocomplete": "tel"},
    )
    province = SelectField("省份", validate_choice=False)
    city = SelectField("城市", validate_choice=False)
    district = SelectField("区/县", validate_choice=False)
    detail = StringField(
        "详细地址",
        render_kw={"placeholder": "街道、小区、楼栋、门牌号", "maxlength": 120, "autocomplete": "street-address"},
    )
    agree = BooleanField("我已阅读并同意上述资费说明和入网协议，确认由本人实名办理")
    token = HiddenField()

    def fill_region_choices(self) -> None:
        """Options for the current selection, so the page works (and errors re-render)
        before the cascading script has loaded the full tree."""
        province = (self.province.data or "").strip()
        city = (self.city.data or "").strip()
        self.province.choices = [("", "请选择省份"), *((p, p) for p in regions.provinces())]
        self.city.choices = [("", "请选择城市"), *((c, c) for c in regions.cities(province))]
        self.district.choices = [("", "请选择区/县"), *((d, d) for d in regions.districts(province, city))]

    def show_errors(self, fields: dict[str, str]) -> list[str]:
        """Put each problem next to its input; return those that belong to no input."""
        loose = []
        for path, message in fields.items():
            name = ORDER_FIELDS.get(path, path)
            field = getattr(self, name, None)
            if field is not None and name in self._fields:
                field.errors = [message]
            else:
                loose.append(message)
        return loose


class LookupForm(FlaskForm):
    phone = StringField(
        "下单时填写的联系电话", render_kw={"maxlength": 11, "inputmode": "numeric", "autocomplete": "tel"}
    )
    id_tail = StringField("身份证号码后6位", render_kw={"maxlength": 6, "autocomplete": "off"})

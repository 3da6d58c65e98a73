"""Forms: they carry the CSRF token and the raw fields; the services judge the values."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from ..services.withdrawals import PAYOUT_METHODS


class RegisterForm(FlaskForm):
    phone = StringField("手机号", validators=[DataRequired("请填写手机号"), Length(max=20)])
    password = PasswordField("登录密码", validators=[DataRequired("请设置密码"), Length(max=64)])
    confirm = PasswordField("确认密码", validators=[EqualTo("password", "两次输入的密码不一致")])
    invite = StringField("邀请码", validators=[DataRequired("请填写推荐人的邀请码或手机号"), Length(max=20)])


class LoginForm(FlaskForm):
    phone = StringField("手机号", validators=[DataRequired("请填写手机号"), Length(max=20)])
    password = PasswordField("密码", validators=[DataRequired("请填写密码"), Length(max=64)])


class PostForm(FlaskForm):
    """A button that only needs the CSRF token (logout)."""


class VerifyForm(FlaskForm):
    name = StringField("真实姓名", validators=[DataRequired("请填写姓名"), Length(max=30)])
    id_card = StringField("身份证号", validators=[DataRequired("请填写身份证号"), Length(max=20)])


class ShopForm(FlaskForm):
    shop_name = StringField("店铺名称", validators=[DataRequired("请填写店铺名称"), Length(max=30)])


class WithdrawForm(FlaskForm):
    amount = StringField("提现金额（元）", validators=[DataRequired("请填写提现金额"), Length(max=14)])
    payout_method = SelectField(
        "收款方式", choices=[SelectChoice(code, label) for code, label in PAYOUT_METHODS.items()]
    )
    payout_account = StringField("收款账号", validators=[DataRequired("请填写收款账号"), Length(max=40)])
    confirmed = HiddenField(default="")

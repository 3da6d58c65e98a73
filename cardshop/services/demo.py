"""A realistic demo catalogue: plans across the four carriers, a number pool and a
root agent whose invite code is 00168."""

from __future__ import annotations

import random

from sqlalchemy import select

from ..models import Agent, DbSession, PhoneNumber, Product

DEMO_PRODUCTS: list[dict[str, object]] = [
    dict(
        sku="CM-HUAXIA-29",
        name="移动花夏卡 29元",
        carrier="mobile",
        promo_tag="首年29元",
        tagline="185G通用+30G定向，全国发货",
        monthly_fee_fen=2900,
        promo_months=12,
        fee_after_promo_fen=3900,
        general_data_gb=185,
        directed_data_gb=30,
        voice_minutes=100,
        contract_months=0,
        first_recharge_fen=5000,
        recharge_rebate_rule="首充50元，次月起每月返还10元，共5个月",
        first_month_billing="首月按天折算，流量按天折算",
        number_region="广东广州",
        min_age=16,
        max_age=60,
        excluded_regions=["新疆维吾尔自治区", "西藏自治区"],
        number_selectable=True,
        commission_fen=[6000, 8000, 9500, 11000],
        stock_total=500,
        sort_order=1,
    ),
    dict(
        sku="CU-DAWANG-19",
        name="联通大王卡 19元",
        carrier="unicom",
        promo_tag="爆款",
        tagline="100G通用+30G定向",
        monthly_fee_fen=1900,
        promo_months=6,
        fee_after_promo_fen=2900,
        general_data_gb=100,
        directed_data_gb=30,
        voice_minutes=0,
        contract_months=12,
        early_termination_fee_fen=5000,
        first_recharge_fen=3000,
        recharge_rebate_rule="首充30元到账30元，赠送话费分3个月返还",
        first_month_billing="首月免月租",
        number_region="随机",
        min_age=18,
        max_age=60,
        excluded_regions=["新疆维吾尔自治区"],
        commission_fen=[5000, 6500, 7500, 9000],
        stock_total=800,
        sort_order=2,
    ),
    dict(
        sku="CT-XINGYAO-29",
        name="电信星耀卡 29元",
        carrier="telecom",
        promo_tag="长期套餐",
        tagline="155G通用+30G定向+100分钟",
        monthly_fee_fen=2900,
        promo_months=24,
        fee_after_promo_fen=2900,
        general_data_gb=155,
        directed_data_gb=30,
        voice_minutes=100,
        contract_months=0,
        first_recharge_fen=10000,
        recharge_rebate_rule="首充100元立即到账100元",
        first_month_billing="首月月租和流量按天折算",
        number_region="收货地",
        min_age=16,
        max_age=60,
        excluded_regions=["新疆维吾尔自治区", "西藏自治区", "云南省"],
        commission_fen=[8000, 10000, 12000, 14000],
        stock_total=300,
        sort_order=3,
    ),
    dict(
        sku="CB-192-39",
        name="广电192流量卡 39元",
        carrier="broadnet",
        promo_tag="新运营商",
        tagline="192G通用流量，5G网络",
        monthly_fee_fen=3900,
        promo_months=0,
        fee_after_promo_fen=3900,
        general_data_gb=192,
        directed_data_gb=0,
        voice_minutes=100,
        contract_months=12,
        early_termination_fee_fen=10000,
        first_recharge_fen=5000,
        recharge_rebate_rule="首充50元，分两月返还",
        first_month_billing="首月按天折算",
        number_region="收货地",
        min_age=18,
        max_age=55,
        excluded_regions=[],
        commission_fen=[7000, 8500, 9500, 10500],
        stock_total=200,
        sort_order=4,
    ),
    dict(
        sku="CM-STUDENT-9",
        name="移动校园卡 9元",
        carrier="mobile",
        promo_tag="学生专享",
        tagline="30G通用+50G定向（仅限16–25岁）",
        monthly_fee_fen=900,
        promo_months=12,
        fee_after_promo_fen=1900,
        general_data_gb=30,
        directed_data_gb=50,
        voice_minutes=0,
        contract_months=0,
        first_recharge_fen=2000,
        recharge_rebate_rule="首充20元到账20元",
        first_month_billing="首月免费体验",
        number_region="收货地",
        min_age=16,
        max_age=25,
        excluded_regions=["新疆维吾尔自治区", "西藏自治区"],
        commission_fen=[3000, 4000, 5000, 6000],
        stock_total=150,
        sort_order=5,
    ),
    dict(
        sku="CU-FLASH-1",
        name="联通秒杀卡 1元首月",
        carrier="unicom",
        promo_tag="限时秒杀",
        tagline="限量抢购：135G通用流量",
        monthly_fee_fen=100,
        promo_months=1,
        fee_after_promo_fen=2900,
        general_data_gb=135,
        directed_data_gb=0,
        voice_minutes=0,
        contract_months=0,
        first_recharge_fen=5000,
        recharge_rebate_rule="首充50元，当月到账",
        first_month_billing="首月1元",
        number_region="随机",
        min_age=18,
        max_age=60,
        excluded_regions=[],
        commission_fen=[2000, 3000, 3500, 4000],
        stock_total=20,
        sort_order=6,
    ),
    dict(
        sku="CT-SOLD-19",
        name="电信翼享卡 19元（已抢完）",
        carrier="telecom",
        promo_tag="已抢完",
        tagline="80G通用+30G定向",
        monthly_fee_fen=1900,
        promo_months=12,
        fee_after_promo_fen=2900,
        general_data_gb=80,
        directed_data_gb=30,
        voice_minutes=0,
        contract_months=0,
        first_recharge_fen=5000,
        recharge_rebate_rule="首充50元送50元",
        first_month_billing="首月按天折算",
        number_region="收货地",
        min_age=16,
        max_age=60,
        excluded_regions=[],
        commission_fen=[4000, 5000, 6000, 7000],
        stock_total=0,
        sort_order=7,
    ),
]


def pretty_pool(prefix: str, count: int, seed: int = 168) -> list[str]:
    """A pool with the shapes customers look for (AAAA, ABCD, AABB) among plain numbers."""
    rng = random.Random(seed)  # noqa: S311 - demo data, reproducible on purpose
    tails = {"8888", "6666", "1234", "5678", "1122", "3399", "0000", "2345"}
    while len(tails) < count:
        tails.add(f"{rng.randrange(10000):04d}")
    middles = [f"{rng.randrange(10000):04d}" for _ in range(count)]
    return [f"{prefix}{middle}{tail}" for middle, tail in zip(middles, sorted(tails), strict=True)]


def load_demo(session: DbSession) -> list[Product]:
    """Add the demo catalogue, numbers and root agent; skips what already exists."""
    products = []
    for spec in DEMO_PRODUCTS:
        product = session.scalars(select(Product).where(Product.sku == spec["sku"])).one_or_none()
        if product is None:
            product = Product(**spec)
            session.add(product)
        products.append(product)
    session.flush()
    selectable = next(p for p in products if p.number_selectable)
    if session.scalars(select(PhoneNumber).where(PhoneNumber.product_id == selectable.id).limit(1)).first() is None:
        session.add_all(PhoneNumber(product_id=selectable.id, msisdn=msisdn) for msisdn in pretty_pool("139", 120))
    if session.scalars(select(Agent).where(Agent.invite_code == "00168")).first() is None:
        session.add(
            Agent(
                phone="13800000168",
                name="平台总代",
                invite_code="00168",
                shop_code="top168",
                shop_name="号卡总店",
                level=3,
                level_floor=3,
                verified=True,
            )
        )
    session.commit()
    return products

"""People for the large seed: a referral tree of agents and a crowd of customers.

Everything is drawn from one ``random.Random`` so a seed reproduces the same data.
Sales follow a long tail (a few agents sell tens of thousands of cards, most sell a
handful), and busy agents are older, higher-levelled and verified, as on a real platform.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from .. import regions
from ..validation import id_check_char, mask_id_card
from .agents import id_card_digest

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)  # fmt: skip
COMPOUND_SURNAMES = ("欧阳", "诸葛", "司马", "上官")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国宇浩然子涵欣怡梓轩雨晨思远俊杰婷佳琪晓东海燕志"
# Real county-level codes, so generated ID numbers look like real ones.
ID_REGIONS = ("110105", "310115", "440305", "440106", "510107", "330106", "420111", "320102", "370102", "410105")
# Mainland mobile segments customers' phones are drawn from.
PHONE_SEGMENTS = tuple("135 136 138 139 150 151 152 157 158 159 177 186 187 188 189".split())
# Provinces most plans refuse to ship to; the crowd lives elsewhere so every plan can sell to it.
REMOTE = frozenset({"新疆维吾尔自治区", "西藏自治区", "云南省"})
SHOP_NAMES = ("{s}的号卡铺", "{s}通信", "{s}流量卡专营", "{s}姐号卡小店", "{s}哥靠谱流量卡")
LEVEL_SHARES = ((3, 0.004), (2, 0.02), (1, 0.08))  # top share of sellers at each level
UNVERIFIED_SHARE = 0.15


def scramble(index: int, modulus: int) -> int:
    """A bijection on [0, modulus): distinct inputs give distinct, random-looking outputs."""
    return (index * 48271 + 12345) % modulus


def person_name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def id_number(rng: random.Random, born: datetime, serial: int) -> str:
    body = f"{rng.choice(ID_REGIONS)}{born:%Y%m%d}{serial % 1000:03d}"
    return body + id_check_char(body)


@dataclass
class SeedAgent:
    id: int
    phone: str
    name: str
    upline_id: int | None
    level: int
    verified: bool
    created_at: datetime
    weight: float  # share of sales, relative
    id_card: str = ""

    @property
    def shop_code(self) -> str:
        # Seven characters: registered agents' random codes have eight, so none collide.
        return f"g{self.id:06d}"

    def row(self, secret: str) -> dict[str, object]:
        """The agents-table row; the ID number itself is kept only masked and digested."""
        return {
            "id": self.id,
            "phone": self.phone,
            "name": self.name if self.verified else "",
            "password_hash": "",
            "invite_code": f"8{scramble(self.id, 10**7):07d}",
            "shop_code": self.shop_code,
            "shop_name": SHOP_NAMES[self.id % len(SHOP_NAMES)].format(s=self.name[:1] or "小"),
            "upline_id": self.upline_id,
            "level": self.level,
            "level_floor": 0,
            "verified": self.verified,
            "active": True,
            "created_at": self.created_at,
            "id_card_masked": mask_id_card(self.id_card) if self.verified else "",
            "id_card_digest": id_card_digest(self.id_card, secret) if self.verified else None,
            "verified_at": self.created_at + timedelta(hours=2) if self.verified else None,
            "failed_logins": 0,
            "locked_until": None,
            "last_login_at": None,
        }


def agent_tree(
    rng: random.Random, count: int, *, root_id: int, first_id: int, start: datetime, taken_phones: set[str]
) -> list[SeedAgent]:
    """``count`` agents under the root, oldest first, each recruited by someone older.

    Sales weights follow a Zipf-like tail; the biggest sellers joined first and hold the
    higher levels. Recruiting is preferential: agents who already recruited recruit more."""
    ranks = list(range(count))
    weights = [1.0 / (rank + 1) ** 0.8 for rank in ranks]
    joined = [start - timedelta(days=30) + timedelta(days=330 * rank / count * rng.random()) for rank in ranks]
    order = sorted(ranks, key=lambda rank: joined[rank])
    levels = _levels_by_rank(count)
    agents: list[SeedAgent] = []
    recruiters: list[int] = [root_id] * 20
    serial = 0
    for position, rank in enumerate(order):
        phone = ""
        while not phone or phone in taken_phones:
            phone = f"166{scramble(serial, 10**8):08d}"
            serial += 1
        verified = rank < count * (1 - UNVERIFIED_SHARE) or rng.random() < 0.3
        born = datetime(1970, 1, 1) + timedelta(days=rng.randrange(365 * 32))
        agent = SeedAgent(
            id=first_id + position,
            phone=phone,
            name=person_name(rng),
            upline_id=rng.choice(recruiters),
            level=levels[rank],
            verified=verified,
            created_at=joined[rank],
            weight=weights[rank] if verified else 0.0,
            id_card=id_number(rng, born, position),
        )
        agents.append(agent)
        recruiters.append(agent.id)
        if rng.random() < 0.08:  # an active recruiter
            recruiters.extend([agent.id] * 6)
    return agents


def _levels_by_rank(count: int) -> list[int]:
    levels = [0] * count
    start = 0
    for level, share in LEVEL_SHARES:
        end = start + max(1, round(count * share))
        for rank in range(start, min(end, count)):
            levels[rank] = level
        start = end
    return levels


class Customer(NamedTuple):
    age: int
    name: str
    id_card: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


def addresses() -> list[tuple[str, str, str]]:
    """Every (province, city, district) outside the remote provinces."""
    found = []
    for province, cities in regions.tree().items():
        if province in REMOTE:
            continue
        for city, districts in cities.items():
            for district in districts or [""]:
                found.append((province, city, district))
    return found


STREETS = ("人民路", "建设路", "解放路", "中山路", "和平路", "新华路", "文化路", "胜利路", "科技园路", "滨河路")


def customer(rng: random.Random, index: int, places: list[tuple[str, str, str]], today: datetime) -> Customer:
    """One buyer (18 to 55 years old) with a unique phone number."""
    born = today - timedelta(days=rng.randrange(365 * 18 + 5, 365 * 55))
    province, city, district = rng.choice(places)
    detail = f"{rng.choice(STREETS)}{rng.randrange(1, 400)}号{rng.randrange(1, 30)}栋{rng.randrange(101, 2800)}室"
    phone = f"{PHONE_SEGMENTS[index % len(PHONE_SEGMENTS)]}{scramble(index // len(PHONE_SEGMENTS), 10**8):08d}"
    age = (today - born).days // 366
    return Customer(
        age, person_name(rng), id_number(rng, born.replace(tzinfo=None), index), phone, province, city, district, detail
    )

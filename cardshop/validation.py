"""Field checks for customer-entered data: ID cards, mobiles, names, and number badges.

Everything here is pure Python with no Flask imports, so services, forms and the
API can share it. Checkers return ``None`` when a value is fine and a Chinese
(zh-CN) message meant for the customer otherwise; :func:`applicant_problems`
gathers several of them into a ``{field: message}`` dict that a form or a JSON
error can carry as it is.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "age_on",
    "applicant_problems",
    "birth_date_from_id",
    "has_digit_four",
    "id_card_problem",
    "id_check_char",
    "mask_id_card",
    "mask_name",
    "mask_phone",
    "mobile_problem",
    "name_problem",
    "normalize_id_card",
    "normalize_mobile",
    "pretty_number_tags",
]

# --- Resident ID card (GB 11643-1999) -------------------------------------------------

# Weights for the first 17 digits: 2**(17 - i) mod 11, i = 0..16 (ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Check character indexed by (weighted sum mod 11).
_ID_CHECK_CHARS = "10X98765432"

# Leading two digits of the address code: the 31 mainland provinces, plus 71/81/82
# (Taiwan, Hong Kong, Macau) and 83 (residence permits for Taiwan residents), which
# real-name registration also accepts.
_ID_PROVINCE_PREFIXES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip

_ID_MIN_YEAR = 1900
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def normalize_id_card(value: str) -> str:
    """Strip surrounding whitespace and upper-case a trailing ``x``."""
    return value.strip().upper()


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _parse_birth_date(id_card: str) -> date | None:
    """The birth date in characters 7-14, or None when it is not a calendar date."""
    try:
        return date(int(id_card[6:10]), int(id_card[10:12]), int(id_card[12:14]))
    except ValueError:
        return None


def id_card_problem(value: str, *, today: date | None = None) -> str | None:
    """Why ``value`` is not a valid 18-character resident ID number, or None.

    Lower-case ``x`` is accepted (the value is normalised first). ``today`` is the
    reference date for the "not born in the future" rule; it defaults to the
    system date and exists so tests can pin it.
    """
    v = normalize_id_card(value)
    if not v:
        return "请填写身份证号码"
    if len(v) != 18:
        return f"身份证号码应为18位，当前为{len(v)}位"
    if not _ASCII_DIGITS.fullmatch(v[:17]):
        return "身份证号码前17位必须是数字"
    if not (v[17] == "X" or _ASCII_DIGITS.fullmatch(v[17])):
        return "身份证号码最后一位必须是数字或X"
    if v[:2] not in _ID_PROVINCE_PREFIXES:
        return "身份证号码的地区码无效"
    born = _parse_birth_date(v)
    if born is None:
        return "身份证号码中的出生日期无效"
    if born.year < _ID_MIN_YEAR:
        return "身份证号码中的出生年份无效"
    if born > (today or date.today()):
        return "身份证号码中的出生日期晚于今天"
    if id_check_char(v[:17]) != v[17]:
        return "身份证号码校验位不正确，请核对后重新输入"
    return None


def birth_date_from_id(id_card: str) -> date:
    """The holder's birth date; raises ValueError when it cannot be read."""
    v = normalize_id_card(id_card)
    if len(v) != 18 or not _ASCII_DIGITS.fullmatch(v[6:14]):
        raise ValueError(f"not an 18-character ID number: {id_card!r}")
    born = _parse_birth_date(v)
    if born is None:
        raise ValueError(f"ID number has no valid birth date: {id_card!r}")
    return born


def age_on(id_card: str, today: date) -> int:
    """The holder's age in full years on ``today``.

    A 29 February birthday counts as reached on 1 March in common years.
    Raises ValueError for an unreadable number or a birth date after ``today``.
    """
    born = birth_date_from_id(id_card)
    if born > today:
        raise ValueError("birth date is after the reference date")
    had_birthday = (today.month, today.day) >= (born.month, born.day)
    return today.year - born.year - (0 if had_birthday else 1)


# --- Mobile numbers -------------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)


def normalize_mobile(value: str) -> str:
    """Strip whitespace, inner spaces/hyphens, and a leading +86 / 86 country code."""
    v = re.sub(r"[\s-]", "", value)
    if v.startswith("+86"):
        v = v[3:]
    elif v.startswith("86") and len(v) == 13:
        v = v[2:]
    return v


def mobile_problem(value: str) -> str | None:
    """Why ``value`` is not a mainland mobile number (``1[3-9]`` + 9 digits), or None.

    The value is checked as given, apart from surrounding whitespace; call
    :func:`normalize_mobile` first to accept ``+86`` or spaced forms.
    """
    v = value.strip()
    if not v:
        return "请填写手机号码"
    if not _MOBILE_RE.fullmatch(v):
        return "请输入正确的11位中国大陆手机号码"
    return None


# --- Names ----------------------------------------------------------------------------

# Han characters plus the middle dots used in transliterated minority names
# (e.g. 买买提·艾力); 2 to 30 characters as on the ID card.
_NAME_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f·•．.]{2,30}")


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a plausible Chinese legal name, or None."""
    v = value.strip()
    if not v:
        return "请填写姓名"
    if not _NAME_RE.fullmatch(v) or v[0] in "·•．." or v[-1] in "·•．.":
        return "请填写与身份证一致的中文姓名"
    return None


# --- Masking for display and logs -----------------------------------------------------

# Two-character surnames kept whole by mask_name (欧阳娜娜 -> 欧阳**).
_COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙",
        "慕容", "长孙", "宇文", "司徒", "令狐", "夏侯", "轩辕", "端木",
        "独孤", "南宫", "西门", "百里", "呼延", "澹台", "公冶", "太史",
        "申屠", "闻人", "万俟", "赫连", "钟离", "濮阳", "淳于", "单于",
        "东郭", "公羊", "拓跋", "司空", "第五", "左丘", "宗政", "仲孙",
        "羊舌", "微生", "梁丘", "谷梁", "乐正", "漆雕", "壤驷", "公良",
    }
)  # fmt: skip


def mask_id_card(value: str) -> str:
    """Keep the first 6 and last 4 characters: ``110105********002X``.

    Values too short to keep 10 characters and still hide something are masked whole.
    """
    v = normalize_id_card(value)
    if len(v) <= 10:
        return "*" * len(v)
    return v[:6] + "*" * (len(v) - 10) + v[-4:]


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 digits: ``138****1234``; short values are masked whole."""
    v = value.strip()
    if len(v) <= 7:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_name(value: str) -> str:
    """Keep the surname, star the rest: ``张*``, ``欧阳**``; a one-character name becomes ``*``.

    The surname is the first character, or the first two for a common compound
    surname when the name is longer than two characters.
    """
    v = value.strip()
    if len(v) <= 1:
        return "*" * len(v)
    keep = 2 if len(v) > 2 and v[:2] in _COMPOUND_SURNAMES else 1
    return v[:keep] + "*" * (len(v) - keep)


# --- Number badges --------------------------------------------------------------------


def pretty_number_tags(msisdn: str) -> list[str]:
    """Badges for a "good-looking" number, judged on its last four digits.

    - ``AAAA``: four identical digits (8888)
    - ``AAA``: the last three identical but not four (x888)
    - ``AABB``: two pairs of different digits (1122)
    - ``ABCD``: four ascending consecutive digits (1234, 5678, 0123)

    Returns an empty list for a plain number or when the value does not end in
    four ASCII digits.
    """
    tail = msisdn.strip()[-4:]
    if len(tail) != 4 or not _ASCII_DIGITS.fullmatch(tail):
        return []
    a, b, c, d = (int(ch) for ch in tail)
    tags: list[str] = []
    if a == b == c == d:
        tags.append("AAAA")
    elif b == c == d:
        tags.append("AAA")
    if a == b and c == d and a != c:
        tags.append("AABB")
    if b == a + 1 and c == b + 1 and d == c + 1:
        tags.append("ABCD")
    return tags


def has_digit_four(msisdn: str) -> bool:
    """True when the digit 4 appears anywhere in the number (some buyers avoid it)."""
    return "4" in msisdn


# --- Form-level helper ----------------------------------------------------------------


def applicant_problems(
    name: str,
    id_card: str,
    mobile: str,
    *,
    today: date | None = None,
    min_age: int | None = None,
    max_age: int | None = None,
) -> dict[str, str]:
    """Check an applicant's name, ID number and mobile together.

    Returns ``{field: message}`` for the fields with a problem (keys ``name``,
    ``id_card``, ``mobile``), empty when all are fine. With ``min_age`` /
    ``max_age`` (inclusive, e.g. a plan's 16-60 limit) the age from a valid ID
    number is checked too, and a problem is reported under ``id_card``.
    """
    today = today or date.today()
    problems: dict[str, str] = {}
    if (msg := name_problem(name)) is not None:
        problems["name"] = msg
    if (msg := id_card_problem(id_card, today=today)) is not None:
        problems["id_card"] = msg
    else:
        age = age_on(id_card, today)
        if min_age is not None and age < min_age:
            problems["id_card"] = f"该套餐仅限{min_age}周岁及以上用户办理"
        elif max_age is not None and age > max_age:
            problems["id_card"] = f"该套餐仅限{max_age}周岁及以下用户办理"
    if (msg := mobile_problem(mobile)) is not None:
        problems["mobile"] = msg
    return problems

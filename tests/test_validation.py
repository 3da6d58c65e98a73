"""Stories about the customer-data checks in cardshop.validation.

No app, database or Redis: these are plain functions. Dates are pinned with
``today=`` so the suite gives the same answers every day.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from cardshop.validation import (
    age_on,
    applicant_problems,
    birth_date_from_id,
    has_digit_four,
    id_card_problem,
    mask_id_card,
    mask_name,
    mask_phone,
    mobile_problem,
    name_problem,
    normalize_id_card,
    normalize_mobile,
    pretty_number_tags,
)

TODAY = date(2025, 6, 1)
VALID_ID = "11010519491231002X"  # the GB 11643 example: Beijing 朝阳区, born 1949-12-31
CJK = re.compile(r"[\u4e00-\u9fff]")


def with_check_char(first17: str) -> str:
    """Append the MOD 11-2 check character, computed here independently of the module."""
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    total = sum(int(ch) * w for ch, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


# --- ID cards: numbers a customer might really type --------------------------------


def test_the_standard_example_id_is_accepted() -> None:
    assert id_card_problem(VALID_ID, today=TODAY) is None


def test_the_helper_agrees_with_the_standard_example() -> None:
    # Guards the test helper itself, so the generated IDs below mean something.
    assert with_check_char(VALID_ID[:17]) == VALID_ID


@pytest.mark.parametrize(
    "typed",
    ["11010519491231002x", "  11010519491231002X  ", "\t11010519491231002x\n"],
)
def test_lowercase_x_and_stray_whitespace_are_forgiven(typed: str) -> None:
    assert id_card_problem(typed, today=TODAY) is None
    assert normalize_id_card(typed) == VALID_ID


def test_ids_ending_in_a_digit_are_accepted() -> None:
    assert id_card_problem(with_check_char("32010619750812042"), today=TODAY) is None


def test_a_leap_day_birthday_is_a_real_date() -> None:
    assert id_card_problem(with_check_char("44030520000229123"), today=TODAY) is None


def test_a_wrong_check_character_is_caught() -> None:
    wrong = VALID_ID[:17] + "1"
    problem = id_card_problem(wrong, today=TODAY)
    assert problem is not None
    assert "校验位" in problem


def test_every_single_digit_typo_is_caught() -> None:
    # MOD 11-2 detects any one wrong digit; so must we.
    for pos in range(17):
        for digit in "0123456789":
            if digit == VALID_ID[pos]:
                continue
            typo = VALID_ID[:pos] + digit + VALID_ID[pos + 1 :]
            assert id_card_problem(typo, today=TODAY) is not None, typo


def test_february_30th_is_not_a_birth_date_even_with_a_correct_check_char() -> None:
    feb30 = with_check_char("11010520000230123")
    problem = id_card_problem(feb30, today=TODAY)
    assert problem is not None
    assert "出生日期" in problem


def test_february_29th_in_a_common_year_is_rejected() -> None:
    assert id_card_problem(with_check_char("11010520010229123"), today=TODAY) is not None


def test_month_13_is_rejected() -> None:
    assert id_card_problem(with_check_char("11010519901301123"), today=TODAY) is not None


def test_someone_born_in_the_future_cannot_apply() -> None:
    future = with_check_char("11010520991231123")
    problem = id_card_problem(future, today=TODAY)
    assert problem is not None
    assert "晚于今天" in problem


def test_born_today_is_fine_but_tomorrow_is_not() -> None:
    born_today = with_check_char("110105" + TODAY.strftime("%Y%m%d") + "123")
    born_tomorrow = with_check_char("11010520250602123")
    assert id_card_problem(born_today, today=TODAY) is None
    assert id_card_problem(born_tomorrow, today=TODAY) is not None


def test_years_before_1900_are_rejected() -> None:
    assert id_card_problem(with_check_char("11010518991231123"), today=TODAY) is not None
    assert id_card_problem(with_check_char("11010519000101123"), today=TODAY) is None


def test_an_unknown_province_code_is_rejected() -> None:
    problem = id_card_problem(with_check_char("99010519900101123"), today=TODAY)
    assert problem is not None
    assert "地区码" in problem


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("11010519491231002", "18位"),  # 17 characters: one digit dropped
        ("11010519491231002X1", "18位"),  # 19 characters
        ("110105194912", "18位"),  # an old-style 15-digit habit, cut short
        ("11010519491231A02X", "前17位"),  # a letter in the body
        ("X1010519491231002X", "前17位"),
        ("11010519491231002Y", "最后一位"),  # only X may be a letter
        ("１１０１０５19491231002X", "前17位"),  # full-width digits from a Chinese IME
        ("", "请填写"),
        ("   ", "请填写"),
    ],
)
def test_malformed_ids_get_a_specific_chinese_message(typed: str, hint: str) -> None:
    problem = id_card_problem(typed, today=TODAY)
    assert problem is not None
    assert hint in problem
    assert CJK.search(problem), "messages are for customers, in Chinese"


def test_the_check_defaults_to_the_real_today() -> None:
    assert id_card_problem(VALID_ID) is None
    assert id_card_problem(with_check_char("11010529991231123")) is not None


# --- Birth dates and ages ----------------------------------------------------------


def test_birth_date_is_read_from_characters_7_to_14() -> None:
    assert birth_date_from_id(VALID_ID) == date(1949, 12, 31)
    assert birth_date_from_id("11010519491231002x") == date(1949, 12, 31)


@pytest.mark.parametrize("bad", ["", "11010519491231002", with_check_char("11010520000230123")])
def test_birth_date_of_a_broken_id_raises(bad: str) -> None:
    with pytest.raises(ValueError):
        birth_date_from_id(bad)


@pytest.mark.parametrize(
    ("today", "age"),
    [
        (date(2025, 6, 1), 75),
        (date(2025, 12, 30), 75),  # the day before the birthday
        (date(2025, 12, 31), 76),  # the birthday itself
        (date(1949, 12, 31), 0),  # the day of birth
        (date(1950, 12, 30), 0),
    ],
)
def test_age_counts_full_years(today: date, age: int) -> None:
    assert age_on(VALID_ID, today) == age


def test_a_leap_day_baby_turns_18_on_march_1st_in_a_common_year() -> None:
    leapling = with_check_char("44030520000229123")
    assert age_on(leapling, date(2018, 2, 28)) == 17
    assert age_on(leapling, date(2018, 3, 1)) == 18
    assert age_on(leapling, date(2020, 2, 28)) == 19
    assert age_on(leapling, date(2020, 2, 29)) == 20


def test_age_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError):
        age_on(VALID_ID, date(1949, 12, 30))


# --- Mobile numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["13812341234", "15000000000", "16612345678", "19912345678", " 17712345678 "],
)
def test_mainland_mobiles_are_accepted(number: str) -> None:
    assert mobile_problem(number) is None


@pytest.mark.parametrize(
    "number",
    [
        "12812341234",  # no 12x networks
        "10086123456",  # a service number shape
        "23812341234",  # must start with 1
        "1381234123",  # 10 digits
        "138123412345",  # 12 digits
        "1381234123a",
        "138 1234 1234",  # spaces need normalize_mobile first
        "+8613812341234",
        "１３８12341234",  # full-width
    ],
)
def test_things_that_are_not_mainland_mobiles_are_rejected(number: str) -> None:
    problem = mobile_problem(number)
    assert problem is not None
    assert CJK.search(problem)


def test_an_empty_mobile_asks_to_be_filled_in() -> None:
    assert mobile_problem("") == "请填写手机号码"


@pytest.mark.parametrize("typed", ["+86 138 1234 1234", "8613812341234", "138-1234-1234", "+8613812341234"])
def test_normalize_mobile_turns_common_spellings_into_a_valid_number(
    typed: str,
) -> None:
    assert normalize_mobile(typed) == "13812341234"
    assert mobile_problem(normalize_mobile(typed)) is None


# --- Names -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["张三", "欧阳娜娜", "买买提·艾力", " 李小龙 "])
def test_chinese_names_are_accepted(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("name", ["", "张", "Zhang San", "张3", "·艾力", "张三!"])
def test_names_unlike_an_id_card_are_rejected(name: str) -> None:
    assert name_problem(name) is not None


# --- Masks: what an agent or a log line may see ------------------------------------


def test_an_id_card_keeps_only_its_region_and_last_four() -> None:
    masked = mask_id_card(VALID_ID)
    assert masked == "110105********002X"
    assert "19491231" not in masked
    assert len(masked) == 18


def test_a_lowercase_id_is_masked_in_its_normal_form() -> None:
    assert mask_id_card("11010519491231002x") == "110105********002X"


def test_a_short_id_is_masked_whole_rather_than_leaked() -> None:
    assert mask_id_card("1234567890") == "**********"
    assert mask_id_card("") == ""


def test_a_phone_keeps_its_network_prefix_and_last_four() -> None:
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("1381234") == "*******"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("李小龙", "李**"),
        ("欧阳娜娜", "欧阳**"),  # compound surname kept whole
        ("诸葛亮", "诸葛*"),
        ("买买提·艾力", "买*****"),
        ("张", "*"),
        ("", ""),
    ],
)
def test_a_name_keeps_only_the_surname(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# --- Pretty-number badges ----------------------------------------------------------


@pytest.mark.parametrize(
    ("msisdn", "tags"),
    [
        ("13800008888", ["AAAA"]),
        ("13800000000", ["AAAA"]),
        ("13800001888", ["AAA"]),
        ("13800001122", ["AABB"]),
        ("13800009900", ["AABB"]),
        ("13800001234", ["ABCD"]),
        ("13800005678", ["ABCD"]),
        ("13800006789", ["ABCD"]),
        ("13800000123", ["ABCD"]),
    ],
)
def test_good_looking_endings_earn_a_badge(msisdn: str, tags: list[str]) -> None:
    assert pretty_number_tags(msisdn) == tags


@pytest.mark.parametrize(
    "msisdn",
    [
        "13800001357",
        "13800004321",  # descending is not ABCD
        "13800007890",  # 9 -> 0 does not wrap around
        "13800008889",  # three same, but not at the end
        "13800001212",  # ABAB is not AABB
    ],
)
def test_plain_endings_earn_nothing(msisdn: str) -> None:
    assert pretty_number_tags(msisdn) == []


def test_four_of_a_kind_is_only_aaaa_not_also_aaa_or_aabb() -> None:
    assert pretty_number_tags("13900001111") == ["AAAA"]


@pytest.mark.parametrize("junk", ["", "123", "1380000abcd", "1380000８８８８"])
def test_values_without_four_ascii_digits_at_the_end_earn_nothing(junk: str) -> None:
    assert pretty_number_tags(junk) == []


def test_digit_four_anywhere_is_flagged() -> None:
    assert has_digit_four("14800001111")
    assert has_digit_four("13800001234")
    assert not has_digit_four("13800005678")


# --- The whole applicant at once ---------------------------------------------------


def test_a_good_applicant_has_no_problems() -> None:
    assert applicant_problems("张三", VALID_ID, "13812341234", today=TODAY) == {}


def test_every_bad_field_is_reported_under_its_own_key() -> None:
    problems = applicant_problems("", "123", "12345", today=TODAY)
    assert set(problems) == {"name", "id_card", "mobile"}
    assert all(CJK.search(msg) for msg in problems.values())


def test_plan_age_limits_are_inclusive() -> None:
    fifteen = with_check_char("11010520100602123")  # 15 on TODAY, 16 tomorrow
    sixteen = with_check_char("11010520090601123")  # 16 exactly on TODAY
    assert "id_card" in applicant_problems("张三", fifteen, "13812341234", today=TODAY, min_age=16)
    assert applicant_problems("张三", sixteen, "13812341234", today=TODAY, min_age=16) == {}
    too_old = applicant_problems("张三", VALID_ID, "13812341234", today=TODAY, min_age=16, max_age=60)
    assert "60" in too_old["id_card"]

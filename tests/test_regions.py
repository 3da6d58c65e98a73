"""Stories about the address cascade in cardshop.regions.

A customer picks a province, then a city, then a district; the server checks the
submitted triple against the same data. No app, database or Redis needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardshop import regions
from cardshop.regions import (
    cities,
    districts,
    is_valid,
    normalize_city,
    provinces,
    tree,
)

MAINLAND_31 = {
    "北京市", "天津市", "河北省", "山西省", "内蒙古自治区",
    "辽宁省", "吉林省", "黑龙江省",
    "上海市", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省",
    "河南省", "湖北省", "湖南省", "广东省", "广西壮族自治区", "海南省",
    "重庆市", "四川省", "贵州省", "云南省", "西藏自治区",
    "陕西省", "甘肃省", "青海省", "宁夏回族自治区", "新疆维吾尔自治区",
}  # fmt: skip

DATA_FILE = Path(regions.__file__).resolve().parent / "data" / "regions.json"


# --- The province select --------------------------------------------------------------


def test_all_31_mainland_provinces_are_offered_and_nothing_else() -> None:
    assert set(provinces()) == MAINLAND_31
    assert len(provinces()) == 31


def test_hong_kong_macau_and_taiwan_are_not_delivery_provinces() -> None:
    for name in ("香港特别行政区", "澳门特别行政区", "台湾省"):
        assert name not in provinces()
        assert cities(name) == []


def test_provinces_come_in_official_code_order() -> None:
    listed = provinces()
    assert listed[0] == "北京市"
    assert listed[-1] == "新疆维吾尔自治区"
    assert listed.index("广东省") < listed.index("重庆市")


# --- The city select ------------------------------------------------------------------


def test_every_province_has_cities_and_every_city_a_name() -> None:
    for province in provinces():
        names = cities(province)
        assert names, province
        assert all(name.strip() == name and name for name in names)
        assert len(names) == len(set(names)), province


def test_the_data_is_nationwide_not_a_sample() -> None:
    n_cities = sum(len(cities(p)) for p in provinces())
    n_districts = sum(len(districts(p, c)) for p in provinces() for c in cities(p))
    # 333 prefecture-level divisions, plus county-level cities run by a province.
    assert n_cities >= 330
    # About 2,800 districts and counties below them.
    assert n_districts >= 2700


def test_guangdong_has_its_21_prefecture_level_cities() -> None:
    gd = cities("广东省")
    assert len(gd) == 21
    assert {"广州市", "深圳市", "东莞市", "中山市", "湛江市"} <= set(gd)


def test_a_municipality_has_one_city_named_after_itself() -> None:
    for municipality in ("北京市", "天津市", "上海市", "重庆市"):
        assert cities(municipality) == [municipality]


@pytest.mark.parametrize("placeholder", ["市辖区", "县", "", " 北京市 "])
def test_a_municipality_placeholder_city_is_normalised(placeholder: str) -> None:
    assert normalize_city("北京市", placeholder) == "北京市"


def test_a_real_city_is_left_alone_by_normalisation() -> None:
    assert normalize_city("广东省", "深圳市") == "深圳市"
    # Only municipalities have that alias.
    assert normalize_city("广东省", "市辖区") == "市辖区"


def test_an_unknown_province_has_no_cities() -> None:
    assert cities("火星省") == []


# --- The district select --------------------------------------------------------------


def test_beijing_lists_its_16_districts_whichever_city_name_is_used() -> None:
    listed = districts("北京市", "北京市")
    assert len(listed) == 16
    assert listed[:2] == ["东城区", "西城区"]
    assert districts("北京市", "市辖区") == listed


def test_shenzhen_lists_nanshan_and_its_newer_districts() -> None:
    sz = districts("广东省", "深圳市")
    assert "南山区" in sz
    assert {"龙华区", "坪山区", "光明区"} <= set(sz)


def test_chongqing_has_jiangbei_and_yubei_but_not_the_liangjiang_zone() -> None:
    # The source package lost these two districts and listed a development zone instead.
    cq = districts("重庆市", "重庆市")
    assert {"江北区", "渝北区", "渝中区", "石柱土家族自治县"} <= set(cq)
    assert "两江新区" not in cq
    assert len(cq) == 38


def test_cities_without_counties_have_an_empty_district_list() -> None:
    assert districts("广东省", "东莞市") == []
    assert districts("湖北省", "仙桃市") == []
    assert districts("海南省", "琼海市") == []


def test_district_lists_have_no_duplicates_or_blanks() -> None:
    for province in provinces():
        for city in cities(province):
            names = districts(province, city)
            assert len(names) == len(set(names)), (province, city)
            assert all(n and n[-1] in "区县市旗" for n in names), (province, city)


def test_unknown_pairs_have_no_districts() -> None:
    assert districts("广东省", "北京市") == []
    assert districts("火星省", "深圳市") == []


# --- Checking a submitted address -----------------------------------------------------


@pytest.mark.parametrize(
    ("province", "city", "district"),
    [
        ("北京市", "北京市", "朝阳区"),
        ("北京市", "市辖区", "朝阳区"),
        ("上海市", "上海市", "浦东新区"),
        ("重庆市", "县", "忠县"),
        ("重庆市", "重庆市", "渝北区"),
        ("广东省", "深圳市", "南山区"),
        ("辽宁省", "朝阳市", "双塔区"),
        ("内蒙古自治区", "呼伦贝尔市", "鄂温克族自治旗"),
        ("新疆维吾尔自治区", "和田地区", "和田市"),
        ("西藏自治区", "林芝市", "米林市"),  # 2023: 米林县 became a city
        (" 广东省", "深圳市 ", " 南山区 "),  # stray spaces from a form
    ],
)
def test_real_addresses_are_valid(province: str, city: str, district: str) -> None:
    assert is_valid(province, city, district)


@pytest.mark.parametrize(
    ("province", "city", "district"),
    [
        ("广东省", "深圳市", "朝阳区"),  # district from another city
        ("广东省", "广州市", "南山区"),  # neighbouring city's district
        ("湖南省", "深圳市", "南山区"),  # city in another province
        ("北京市", "上海市", "朝阳区"),
        ("北京市", "北京市", "浦东新区"),
        ("辽宁省", "朝阳市", "朝阳区"),  # 朝阳区 is Beijing's
        ("广东省", "深圳市", ""),  # a city with districts needs one picked
        ("广东省", "深圳市", "南山"),  # suffix dropped: not the same name
        ("广东", "深圳市", "南山区"),
        ("香港特别行政区", "香港", "中西区"),
        ("", "", ""),
        ("重庆市", "重庆市", "两江新区"),
    ],
)
def test_bogus_addresses_are_invalid(province: str, city: str, district: str) -> None:
    assert not is_valid(province, city, district)


def test_a_city_without_counties_is_valid_only_with_an_empty_district() -> None:
    assert is_valid("广东省", "东莞市", "")
    assert is_valid("湖北省", "仙桃市", "")
    assert not is_valid("广东省", "东莞市", "莞城区")
    assert not is_valid("广东省", "东莞市", "南山区")


# --- The whole tree -------------------------------------------------------------------


def test_tree_is_plain_json_that_matches_the_lookups() -> None:
    t = tree()
    assert json.loads(json.dumps(t, ensure_ascii=False)) == t
    assert list(t) == provinces()
    assert list(t["广东省"]) == cities("广东省")
    assert t["广东省"]["深圳市"] == districts("广东省", "深圳市")


def test_mutating_a_tree_copy_does_not_change_the_shared_data() -> None:
    t = tree()
    t["广东省"]["深圳市"].append("假区")
    del t["北京市"]
    assert "北京市" in tree()
    assert not is_valid("广东省", "深圳市", "假区")


def test_the_data_file_is_small_and_read_only_once() -> None:
    assert DATA_FILE.stat().st_size < 400 * 1024
    regions._data.cache_clear()
    provinces()
    cities("广东省")
    is_valid("北京市", "北京市", "朝阳区")
    assert regions._data.cache_info().misses == 1

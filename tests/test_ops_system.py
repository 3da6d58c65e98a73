"""The system status page tells an operator at a glance whether selling is safe, and
its reconcile button puts every node's counter back to what the database says."""

from __future__ import annotations

import re

import redis

from cardshop.stock.service import stock_key

from .ops_fixtures import fast_hashing, operator, ops  # noqa: F401


def node_cells(page: str) -> list[str]:
    return re.findall(r'<tr data-node="\d">.*?</tr>', page, flags=re.S)


def test_all_nodes_up_says_selling_is_safe(ops, make_product) -> None:  # noqa: F811
    make_product("T-1", stock_total=7)
    page = ops.get("/ops/system").text
    assert "可以正常售卖：Redis 3/3 个节点在线" in page
    assert all("在线" in row and " ms" in row for row in node_cells(page))
    compact = re.sub(r">\s+<", "><", page)
    assert re.search(r'<td>T-1</td><td class="num">7</td>(<td class="num">7</td>){3}<td>一致</td>', compact)


def test_one_node_down_is_shown_and_the_quorum_still_holds(ops, make_product, nodes) -> None:  # noqa: F811
    make_product("T-1", stock_total=7)
    nodes.nodes[1].kill()
    page = ops.get("/ops/system").text
    assert "可以正常售卖：Redis 2/3 个节点在线" in page and "再坏一个就会停止售卖" in page
    rows = node_cells(page)
    assert "离线" in rows[1] and "离线" not in rows[0] + rows[2]


def test_two_nodes_down_says_plainly_that_selling_stopped(ops, make_product, nodes) -> None:  # noqa: F811
    make_product("T-1", stock_total=7)
    nodes.nodes[0].kill()
    nodes.nodes[2].kill()
    response = ops.get("/ops/system")
    assert response.status_code == 200
    assert "仲裁丢失，已停止售卖：只有 1/3 个 Redis 节点在线" in response.text
    assert "Redis 多数节点不可用，无法对账" in response.text


def test_reconcile_rewrites_a_wrong_counter_and_says_so(ops, make_product, nodes, stock) -> None:  # noqa: F811
    make_product("T-1", stock_total=7)
    make_product("T-2", stock_total=3)
    redis.Redis(port=nodes.nodes[0].port).hset(stock_key("T-1"), "avail", 99)
    redis.Redis(port=nodes.nodes[2].port).delete(stock_key("T-2"))
    before = ops.get("/ops/system").text
    assert "不一致 2 个" in before and "99" in before and "缺失" in before
    assert stock.counters(["T-1", "T-2"])[0] == [99, 3], "looking changes nothing"
    after = ops.post("/ops/system/reconcile").text
    assert "对账完成：2 个商品，修正 2 个" in after and after.count("已修正") == 2
    assert stock.counters(["T-1", "T-2"]) == [[7, 3], [7, 3], [7, 3]]
    assert "不一致 0 个" in ops.get("/ops/system").text

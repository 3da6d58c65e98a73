"""Every shop page passes an HTML check: no broken links among the app's own pages,
every input has a label, ids are unique, nothing loads from outside, no page over 150 KB."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

from werkzeug.exceptions import MethodNotAllowed, NotFound

from .test_risk import form_data
from .test_shop_pages import catalogue  # noqa: F401 - the shared catalogue fixture

MAX_PAGE_BYTES = 150 * 1024
NO_LABEL_NEEDED = {"hidden", "submit", "button", "reset", "image"}


class PageCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: set[str] = set()
        self.assets: set[str] = set()
        self.actions: set[tuple[str, str]] = set()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str]] = []
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and a.get("href"):
            self.links.add(a["href"])
        if tag in {"link", "script", "img"} and (a.get("href") or a.get("src")):
            self.assets.add(a.get("href") or a["src"])
        if tag == "form":
            self.actions.add((a.get("method", "get").upper(), a.get("action", "")))
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in {"input", "select", "textarea"} and a.get("type", "text") not in NO_LABEL_NEEDED:
            self.controls.append({**a, "_wrapped": "1" if self.open_labels else ""})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        return [
            c.get("name", "?")
            for c in self.controls
            if not (c["_wrapped"] or c.get("aria-label") or (c.get("id") and c["id"] in self.label_for))
        ]


def visit(app, client, url: str, seen: dict[str, PageCheck]) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code in {200, 404, 422}, (url, response.status_code)
    seen[url] = check_page(app, client, url, response.get_data())


def check_page(app, client, url: str, body: bytes) -> PageCheck:  # type: ignore[no-untyped-def]
    assert len(body) < MAX_PAGE_BYTES, (url, len(body))
    check = PageCheck()
    check.feed(body.decode())
    assert not check.unlabelled(), (url, check.unlabelled())
    assert len(check.ids) == len(set(check.ids)), (url, sorted(check.ids))
    for asset in check.assets:
        assert asset.startswith("/"), (url, "external asset", asset)
        assert client.get(asset).status_code == 200, (url, asset)
    adapter = app.url_map.bind("localhost")
    for method, action in check.actions:
        path = urlsplit(action or url).path
        try:
            adapter.match(path, method=method)
        except (NotFound, MethodNotAllowed):
            raise AssertionError(f"{url}: form posts to {method} {path}, which does not exist") from None
    return check


def test_every_shop_page_passes_the_html_check(app, client, catalogue) -> None:  # noqa: F811
    seen: dict[str, PageCheck] = {}
    client.get("/s/top168")
    client.post("/p/PICK-1/numbers/13912348888/hold")
    placed = client.post("/p/FLASH-1/order", data=form_data(1)).headers["Location"]
    queue = ["/", "/s/top168", "/s/nobody", "/p/GONE-1", "/p/PICK-1", "/p/PICK-1/order", "/orders/lookup", placed]
    while queue:  # follow every link to the app's own pages
        url = queue.pop()
        if url in seen:
            continue
        visit(app, client, url, seen)
        for link in seen[url].links:
            target = urldefrag(link).url
            if not target:
                continue
            assert not urlsplit(target).netloc, (url, "links outside the app", link)
            if target not in seen:
                queue.append(target)
    assert {"/p/FLASH-1", "/p/FLASH-1/order", "/orders/lookup"} <= set(seen)
    assert len(seen) >= 10
    # Pages that answer a POST: the form with its errors, and lookup results.
    errors = client.post("/p/FLASH-1/order", data=form_data(2, id_card="1", phone=""))
    assert errors.status_code == 422
    check_page(app, client, "/p/FLASH-1/order (errors)", errors.get_data())
    results = client.post("/orders/lookup", data={"phone": "13800000001", "id_tail": form_data(1)["id_card"][-6:]})
    assert "订单进度" in results.get_data(as_text=True)
    check_page(app, client, "/orders/lookup (results)", results.get_data())

"""Absolute links agents share: their shop and their invitation."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, request, url_for

from ..models import Agent


def public_base() -> str:
    """PUBLIC_URL when set (behind a proxy or CDN), else the URL this request came in on."""
    return (current_app.config.get("PUBLIC_URL") or request.host_url).rstrip("/")


def shop_url(agent: Agent, sku: str = "") -> str:
    """The shop front serves /s/<shop_code>; a product link adds ?sku=."""
    query = f"?{urlencode({'sku': sku})}" if sku else ""
    return f"{public_base()}/s/{agent.shop_code}{query}"


def invite_url(agent: Agent) -> str:
    return public_base() + url_for("agent.register", invite=agent.invite_code)

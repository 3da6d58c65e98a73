"""The shop's QR code (SVG for the page) and its share poster (PNG), drawn locally."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import qrcode
import qrcode.image.svg
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_BOLD_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
RED = (228, 57, 60)
RED_DARK = (200, 22, 35)
WIDTH, HEIGHT = 750, 1200


def qr_svg(url: str) -> str:
    """An inline SVG of the URL's QR code (no script, no external request)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=2)
    code.add_data(url)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    svg = image.to_string(encoding="unicode")
    return str(svg).split("?>", 1)[-1].strip()  # drop the XML declaration for inline use


def _qr_image(url: str, size: int) -> Image.Image:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=2)
    code.add_data(url)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    return image.resize((size, size), Image.Resampling.NEAREST)


@lru_cache(maxsize=8)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_BOLD_PATH if bold and FONT_BOLD_PATH.exists() else FONT_PATH
    if path.exists():
        return ImageFont.truetype(str(path), size, index=2)  # index 2: Simplified Chinese
    return ImageFont.load_default(size)


def _centred(
    draw: ImageDraw.ImageDraw,
    y: int,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    fill: tuple[int, int, int],
) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    draw.text(((WIDTH - (right - left)) // 2, y), text, font=font, fill=fill)


def poster_png(shop_name: str, url: str, tagline: str = "正规实名 · 官方号卡 · 包邮到家") -> bytes:
    """A 750x1200 share poster: the shop name, a tagline, the QR code and the link."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for y in range(520):  # header gradient, red to darker red
        mix = y / 520
        colour = tuple(int(a + (b - a) * mix) for a, b in zip(RED, RED_DARK, strict=True))
        draw.line([(0, y), (WIDTH, y)], fill=colour)
    _centred(draw, 90, shop_name[:20], _font(56, bold=True), (255, 255, 255))
    _centred(draw, 190, tagline, _font(32), (255, 235, 235))
    _centred(draw, 270, "大流量 · 低月租 · 可选靓号", _font(40, bold=True), (255, 255, 255))
    card = (125, 380, 625, 880)
    draw.rounded_rectangle(card, radius=24, fill=(255, 255, 255), outline=(240, 240, 240), width=2)
    image.paste(_qr_image(url, 440), (155, 410))
    _centred(draw, 920, "长按识别二维码，进店选卡", _font(36, bold=True), (34, 34, 34))
    _centred(draw, 980, url[:60], _font(24), (119, 119, 119))
    _centred(draw, 1110, "号卡商城 · 实名办理 · 依法登记", _font(24), (153, 153, 153))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()

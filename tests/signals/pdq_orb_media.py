"""Images for the pdq_orb tests, drawn with Pillow from fixed seeds: a textured "photo", its
edited copies, and template cards that share one layout."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tessera.media.content import Content


def photo(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A photo-like scene: a smooth random field with many shapes and edges (corners for ORB)."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed).normal(0, 1, (size[1] // 8, size[0] // 8, 3))
    base = Image.fromarray(np.clip(128 + 60 * noise, 0, 255).astype(np.uint8))
    im = base.resize(size, Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(im)
    for _ in range(60):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randint(8, 60), rng.randint(8, 60)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        rng.choice((d.rectangle, d.ellipse))((x, y, x + w, y + h), fill=colour)
    return im


def card(seed: int, picture_side: int = 96) -> Image.Image:
    """A template card: fixed frame, header, logo and footer; a picture and text of its own."""
    rng = random.Random(seed)
    im = Image.new("RGB", (640, 420), (245, 243, 235))
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=26)
    d.rectangle((0, 0, 639, 419), outline=(20, 40, 90), width=8)
    d.rectangle((8, 8, 631, 80), fill=(20, 40, 90))
    d.ellipse((20, 14, 76, 70), fill=(230, 190, 40))
    d.text((96, 26), "OFFICIAL STATEMENT OF THE OFFICE", fill=(255, 255, 255), font=font)
    im.paste(photo(seed + 10_000, (picture_side, picture_side)), (40, 110))
    words = "river night market convoy bridge council station report media district".split()
    for line in range(5):
        text = " ".join(rng.choice(words) for _ in range(3))
        d.text((180, 110 + 40 * line), text, fill=(30, 30, 30), font=ImageFont.load_default(18))
    d.rectangle((8, 360, 631, 411), fill=(20, 40, 90))
    d.text((24, 372), "media office  -  channel  -  archive", fill=(255, 255, 255), font=font)
    return im


def crop(im: Image.Image, share: float) -> Image.Image:
    """``share`` of each axis cut away, split between the two sides."""
    dx, dy = round(im.width * share), round(im.height * share)
    return im.crop((dx // 3, dy // 2, im.width - (dx - dx // 3), im.height - (dy - dy // 2)))


def letterbox(im: Image.Image, share: float = 0.2) -> Image.Image:
    """Centred on black, the frame ``share`` larger each way."""
    out = Image.new("RGB", (round(im.width * (1 + share)), round(im.height * (1 + share))))
    out.paste(im, ((out.width - im.width) // 2, (out.height - im.height) // 2))
    return out


def framed(im: Image.Image) -> Image.Image:
    """A screenshot: grey window, a dark title bar with text, and a caption under the image."""
    out = Image.new("RGB", (im.width + 40, im.height + 110), (236, 236, 236))
    d = ImageDraw.Draw(out)
    d.rectangle((0, 0, out.width, 36), fill=(60, 60, 70))
    d.text((12, 8), "Channel - post", fill=(230, 230, 230), font=ImageFont.load_default(18))
    out.paste(im, (20, 36))
    d.text((20, im.height + 56), "shared 3 hours ago", fill=(30, 30, 30))
    return out


def content(im: Image.Image, fmt: str = "PNG") -> Content:
    """The image encoded as a file."""
    buf = io.BytesIO()
    im.save(buf, fmt)
    return Content.from_bytes(buf.getvalue())

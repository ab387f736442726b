"""The image-matching benchmark's media, all made offline and reproducibly (fixed seeds).

- ``references()``: photographs that installed packages ship (scikit-image's ``data`` module)
  and the shared reference photos (../shared/data/pdq-reference), the 12 MP desk photo cut into
  four quadrants that share no pixels;
- ``TRANSFORMS``: the edits a re-share makes, each a function of (image, seed);
- ``template_cards(n)``: synthetic "cards" rendered with Pillow, one layout (frame, header band,
  title, logo, picture box, body text, footer) with a different picture and text on each: the
  hard negatives on which PDQ collides.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from bench.common import SHARED_DATA

SKIMAGE_PHOTOS = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "hubble_deep_field",
    "stereo_motorcycle",
    "page",
    "retina",
    "rocket",
    "moon",
    "immunohistochemistry",
    "cell",
    "brick",
    "grass",
    "gravel",
    "text",
    "clock",
)
SHARED_PHOTOS = (
    "bridge-mods/aaa-orig.jpg",
    "pen-and-coaster.png",
    *(f"labelme-subset/{n}.jpg" for n in ("q0003", "q0004", "q0122", "q0291", "q0746", "q1050")),
    "labelme-subset/q2821.jpg",
)
WORDS = (
    "statement update notice report region forces city council river valley market night "
    "morning people leader council alliance front province border attack convoy bridge road "
    "station harbour district office media channel release issue number week victory message"
).split()


def references() -> Iterator[tuple[str, Image.Image]]:
    """(name, RGB image) for every reference photo available offline."""
    import skimage.data

    for name in SKIMAGE_PHOTOS:
        pixels = getattr(skimage.data, name)()
        if isinstance(pixels, tuple):  # stereo_motorcycle: (left, right, disparity); left only
            pixels = pixels[0]
        yield f"skimage:{name}", _rgb(Image.fromarray(pixels))
    base = SHARED_DATA / "pdq-reference"
    if not base.is_dir():
        return
    for rel in SHARED_PHOTOS:
        with Image.open(base / rel) as im:
            yield f"shared:{Path(rel).stem}", _fit(_rgb(im), 1024)
    with Image.open(base / "exif-rotn" / "exif-rotn-1.jpg") as im:
        photo = _rgb(im)
    w, h = photo.size
    quadrants = [(x, y, x + w // 2, y + h // 2) for y in (0, h // 2) for x in (0, w // 2)]
    for i, box in enumerate(quadrants):
        yield f"shared:desk-q{i}", _fit(photo.crop(box), 1024)


def _rgb(im: Image.Image) -> Image.Image:
    return im.convert("RGB")


def _fit(im: Image.Image, side: int) -> Image.Image:
    scale = side / max(im.size)
    if scale >= 1:
        return im
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` (loaded once: loading dominated making a card)."""
    return ImageFont.load_default(size=size)


def _crop(im: Image.Image, share: float, seed: int) -> Image.Image:
    """Cut ``share`` of the width and height away, split at random between the two sides."""
    rng = random.Random(seed)
    w, h = im.size
    dx, dy = round(w * share), round(h * share)
    left, top = rng.randint(0, dx), rng.randint(0, dy)
    return im.crop((left, top, w - (dx - left), h - (dy - top)))


def _text_overlay(im: Image.Image, seed: int) -> Image.Image:
    rng = random.Random(seed)
    out = im.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    size = max(12, h // 12)
    text = " ".join(rng.choice(WORDS) for _ in range(3)).upper()
    y = rng.choice((h // 20, h - size * 2))
    draw.text((w // 20 + 2, y + 2), text, fill=(0, 0, 0), font=_font(size))
    draw.text((w // 20, y), text, fill=(255, 255, 255), font=_font(size))
    return out


def _logo(im: Image.Image, seed: int) -> Image.Image:
    """A logo covering 25% of the image's area, in a corner."""
    rng = random.Random(seed)
    out = im.copy()
    w, h = out.size
    lw, lh = w // 2, h // 2
    logo = Image.new("RGB", (lw, lh), (200, 30, 30))
    d = ImageDraw.Draw(logo)
    d.ellipse((lw // 8, lh // 8, lw * 7 // 8, lh * 7 // 8), fill=(250, 250, 250))
    d.text((lw // 4, lh // 3), "NEWS", fill=(20, 20, 20), font=_font(max(10, lh // 4)))
    corner = rng.choice(((0, 0), (w - lw, 0), (0, h - lh), (w - lw, h - lh)))
    out.paste(logo, corner)
    return out


def _letterbox(im: Image.Image, _seed: int) -> Image.Image:
    """Pad to a frame 20% larger on each axis with black bars (a 16:9 player or a square post)."""
    w, h = im.size
    out = Image.new("RGB", (round(w * 1.2), round(h * 1.2)), (0, 0, 0))
    out.paste(im, ((out.width - w) // 2, (out.height - h) // 2))
    return out


def _screenshot(im: Image.Image, seed: int) -> Image.Image:
    """The image inside an app window: grey chrome, a title bar with text, margins, a caption."""
    rng = random.Random(seed)
    w, h = im.size
    bar, margin, caption = max(16, h // 10), max(8, w // 16), max(20, h // 6)
    out = Image.new("RGB", (w + 2 * margin, h + bar + margin + caption), (236, 236, 236))
    d = ImageDraw.Draw(out)
    d.rectangle((0, 0, out.width, bar), fill=(60, 60, 70))
    d.text((margin, bar // 4), "Channel - post", fill=(230, 230, 230), font=_font(bar // 2))
    out.paste(im, (margin, bar))
    words = " ".join(rng.choice(WORDS) for _ in range(6))
    d.text((margin, bar + h + caption // 4), words, fill=(30, 30, 30), font=_font(caption // 3))
    return out


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _noise(im: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    a = np.asarray(im, dtype=np.float32) + rng.normal(0, 12, (im.height, im.width, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _gamma(im: Image.Image, _seed: int) -> Image.Image:
    table = [round(255 * (v / 255) ** 0.6) for v in range(256)] * 3
    return im.point(table)


def _third(im: Image.Image, _seed: int) -> Image.Image:
    return im.resize((max(1, im.width // 3), max(1, im.height // 3)), Image.Resampling.BILINEAR)


def _bright(im: Image.Image, _seed: int) -> Image.Image:
    return im.point(lambda v: min(255, v + 40))


Transform = Callable[[Image.Image, int], Image.Image]
TRANSFORMS: dict[str, Transform] = {
    "jpeg_q30": lambda im, _s: _jpeg(im, 30),
    "resize_1_3": _third,
    "blur": lambda im, _s: im.filter(ImageFilter.GaussianBlur(2)),
    "brightness": _bright,
    "gamma": _gamma,
    "noise": _noise,
    "greyscale": lambda im, _s: ImageOps.grayscale(im).convert("RGB"),
    "text_overlay": _text_overlay,
    "logo_25": _logo,
    "crop_5": lambda im, s: _crop(im, 0.05, s),
    "crop_10": lambda im, s: _crop(im, 0.10, s),
    "letterbox_20": _letterbox,
    "screenshot": _screenshot,
    "rotate_5": lambda im, _s: im.rotate(5, resample=Image.Resampling.BICUBIC, expand=True),
    "flip": lambda im, _s: ImageOps.mirror(im),
    "rotate_90": lambda im, _s: im.transpose(Image.Transpose.ROTATE_90),
    "flip_crop": lambda im, s: _crop(ImageOps.mirror(im), 0.05, s),
}
# Transforms under which PDQ (with its dihedral variants) is expected to work.
PDQ_WORKS = (
    "jpeg_q30",
    "resize_1_3",
    "blur",
    "brightness",
    "gamma",
    "noise",
    "greyscale",
    "flip",
    "rotate_90",
)


def template_card(i: int) -> Image.Image:
    """Card ``i``: one fixed layout, with its own picture and text."""
    rng = random.Random(1000 + i)
    card = Image.new("RGB", (640, 420), (245, 243, 235))
    d = ImageDraw.Draw(card)
    d.rectangle((0, 0, 639, 419), outline=(20, 40, 90), width=8)
    d.rectangle((8, 8, 631, 70), fill=(20, 40, 90))
    d.ellipse((20, 14, 70, 64), fill=(230, 190, 40))
    d.text((90, 22), "OFFICIAL STATEMENT", fill=(255, 255, 255), font=_font(28))
    d.rectangle((24, 90, 284, 350), fill=(200, 200, 200))
    card.paste(_picture(rng), (30, 96))
    for line in range(6):
        words = " ".join(rng.choice(WORDS) for _ in range(3))
        d.text((304, 100 + 36 * line), words, fill=(30, 30, 30), font=_font(20))
    d.rectangle((8, 372, 631, 411), fill=(220, 220, 225))
    d.text(
        (24, 380),
        f"No. {rng.randint(100, 999)}  -  media office",
        fill=(60, 60, 60),
        font=_font(18),
    )
    return card


def _picture(rng: random.Random) -> Image.Image:
    """A 248x248 picture of random shapes on a random gradient."""
    side, coarse = 248, 32
    y, x = np.mgrid[0:coarse, 0:coarse].astype(np.float32) / coarse
    c0, c1 = (
        np.array([rng.randint(0, 255) for _ in range(3)], np.float32),
        np.array([rng.randint(0, 255) for _ in range(3)], np.float32),
    )
    t = (x * rng.random() + y * rng.random())[..., None] / 2
    # The gradient is linear: drawn coarse and resized, it is the same picture at a tenth the cost.
    gradient = Image.fromarray((c0 * (1 - t) + c1 * t).astype(np.uint8))
    pic = gradient.resize((side, side), Image.Resampling.BILINEAR)
    d = ImageDraw.Draw(pic)
    for _ in range(rng.randint(4, 9)):
        box = sorted(rng.sample(range(side), 2))
        boy = sorted(rng.sample(range(side), 2))
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        shape = rng.choice((d.ellipse, d.rectangle))
        shape((box[0], boy[0], box[1], boy[1]), fill=colour)
    return pic


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    """The image as file bytes (PNG by default, so no second lossy step blurs the transform)."""
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()

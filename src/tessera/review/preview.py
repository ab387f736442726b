"""Previews: the small picture of a piece of content kept with its case for the reviewer.

A case keeps a preview, never the media itself: a JPEG at most ``MAX_SIDE`` pixels on its long
side, deleted after ``review_retention_days`` (``services.review.purge_expired_media``) and shown
only to the organisation that submitted the content. ``make_preview`` makes it:

1. an image: the format is recognised and its header parsed exactly as for hashing
   (``media.image``: only JPEG, PNG, GIF, WebP, BMP, TIFF and AVIF reach a decoder), its size
   checked against ``max_image_pixels`` before any pixel is decoded; a JPEG is decoded at a
   reduced DCT scale when that is enough; the first frame becomes an RGB thumbnail;
2. a video: its first video stream is decoded with the same guards as hashing (declared frame
   size and decoder ``max_pixels`` within ``max_video_pixels``, the wall-clock budget, the frame
   count and duration limits); the frame shown is the first at or after half the declared
   duration. A header may lie about the duration, so frames are also sampled as they go (one
   kept per sampling step, the step doubling whenever ``_KEPT_FRAMES`` are held) and, when the
   stream ends before the declared middle, the sampled frame nearest the real middle is used;
3. audio, exact-only files and anything that fails: no preview (None). Bad media never raises:
   the case opens without a picture and the page says so.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import av
from PIL import Image, JpegImagePlugin

from tessera.errors import MediaError, TesseraError
from tessera.media._av import AV_ERRORS, decoded_frames
from tessera.media.content import Content
from tessera.media.image import open_image
from tessera.media.kinds import MediaKind
from tessera.media.video import MAX_FRAME_RATE, open_decoder
from tessera.settings import Settings

log = logging.getLogger(__name__)

MAX_SIDE = 640
"""The long side of a preview, in pixels."""
JPEG_QUALITY = 80
PREVIEW_MIME = "image/jpeg"
_KEPT_FRAMES = 16
# What a hostile file can make Pillow or PyAV raise while making a thumbnail.
_FAILURES: tuple[type[BaseException], ...] = (
    TesseraError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    MemoryError,
    Image.DecompressionBombError,
    *AV_ERRORS,
)


def make_preview(content: Content, settings: Settings) -> tuple[str, bytes] | None:
    """A JPEG preview of an image or video (mime, bytes); None for audio or media that fails."""
    del settings  # the content carries the limits it was hashed under
    try:
        picture: Image.Image | None
        if content.kind is MediaKind.IMAGE:
            picture = _image_frame(content)
        elif content.kind is MediaKind.VIDEO:
            picture = _video_frame(content)
        else:
            return None
        return (PREVIEW_MIME, _jpeg(picture)) if picture is not None else None
    except _FAILURES as e:
        log.info("no preview for %s: %s", content.name, e)
        return None


def _jpeg(picture: Image.Image) -> bytes:
    """The picture as an RGB JPEG no larger than MAX_SIDE a side."""
    rgb = picture if picture.mode == "RGB" else picture.convert("RGB")
    rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _image_frame(content: Content) -> Image.Image:
    """The first frame of an image, within the pixel limit, reduced by libjpeg when a JPEG."""
    with open_image(content) as (_fmt, image):
        image.info.pop("transparency", None)
        if isinstance(image, JpegImagePlugin.JpegImageFile):
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        image.load()
        picture = image.convert("RGB") if image.mode != "RGB" else image.copy()
    picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return picture


def _video_frame(content: Content) -> Image.Image | None:
    """A frame from the middle of a video's first video stream; None for sound without picture."""
    limits = content.limits
    deadline = time.monotonic() + limits.max_decode_seconds
    with av.open(io.BytesIO(content.data), mode="r") as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        open_decoder(stream, limits.max_video_pixels, fast=False)
        target = _declared_middle(container, stream, limits.max_media_seconds)
        max_frames = int(limits.max_media_seconds * MAX_FRAME_RATE) + 1
        kept: list[tuple[float, Image.Image]] = []
        step = 1.0
        next_at = 0.0
        last = 0.0
        count = 0
        frames = decoded_frames(container, stream, deadline, limits.max_decode_seconds, "video")
        for frame in frames:
            count += 1
            if frame.width * frame.height > limits.max_video_pixels:
                raise MediaError("video frame is over the pixel limit")
            at = float(frame.time) if frame.time is not None else last
            last = max(last, at)
            if count > max_frames or last > limits.max_media_seconds:
                raise MediaError("video is over the duration limit")
            if target is not None and at >= target:
                return _picture(frame)
            if at >= next_at:
                kept.append((at, _picture(frame)))
                next_at = at + step
                if len(kept) >= _KEPT_FRAMES:
                    kept = kept[::2]
                    step *= 2
        if not kept:
            return None
        middle = last / 2
        return min(kept, key=lambda k: abs(k[0] - middle))[1]


def _declared_middle(container: Any, stream: Any, max_seconds: float) -> float | None:
    """Half the duration the header declares (stream, else container), if plausible."""
    seconds: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    if seconds is None or not 0 < seconds <= max_seconds:
        return None
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    return start + seconds / 2


def _picture(frame: Any) -> Image.Image:
    """A decoded frame as a small RGB picture (reduced at once, to keep little in memory)."""
    picture: Image.Image = frame.to_image()
    picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return picture

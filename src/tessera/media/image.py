"""Image decoding: the brightness (luma) of an image's first frame, within limits.

Flow for one image:

1. recognise the format from the first bytes (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF) and parse
   only its header, with Pillow's own plug-in class for that format; any other format (HEIC,
   EPS, ...) is refused, so no exotic decoder ever sees hostile bytes;
2. refuse it before decoding any pixel when width x height exceeds ``limits.max_image_pixels``
   (decompression bombs); zero-size, corrupt and truncated files are refused with a short reason;
3. decode the first frame (animated GIF, PNG and WebP hash their first frame, as Meta's tools do),
   at reduced size when the caller passes ``reduce_to``: a JPEG by libjpeg's DCT scaling (1/2,
   1/4 or 1/8) straight to its Y channel (``draft``), keeping at least ``reduce_to`` samples a
   side, which skips the colour conversion and most of the inverse DCT; then, for very large
   images of any format, by whole-pixel box averaging (``reduce``) that keeps at least twice
   that. ``Luma.scale_x``/``scale_y`` say how many stored pixels each sample averages, so a hash
   can map its sampling back to the stored grid;
4. turn the pixels into float luma, 0.299 R + 0.587 G + 0.114 B (the weights PDQ and JPEG's Y use).
   Alpha is dropped, not composited: python-threatexchange's ``convert('RGB')`` and Meta's C++
   hasher read the colour channels as stored, so a transparent pixel counts as its stored colour.
   16-bit greys scale as v / 257 (Pillow's own conversion clips everything above 255 to white),
   and so do Pillow's 32-bit integer greys; 16-bit RGB arrives from Pillow as its high bytes,
   within one level of v / 257.

EXIF orientation is ignored, as Meta's reference hasher ignores it. Measured on the shared
``exif-rotn`` photos (one scene stored with orientations 1, 3, 6 and 8; reference.csv holds the
C++ hasher's hashes): hashing the pixels as stored gives distances 0, 4, 2 and 2 bits from the
reference, while applying the orientation first gives 0, 130, 128 and 132 bits. Copies that differ
only by orientation are found by dihedral matching instead (``tessera.signals.pdq``).

Pillow's decompression-bomb check warns above ``Image.MAX_IMAGE_PIXELS`` (89.5 MP by default, below
Tessera's 100 MP) and fails above twice that. Tessera never changes that global: headers are
parsed by the format's class, which skips the check, Tessera's own limit decides, and only for
an image already admitted that Pillow would still warn about (or for TIFF, whose tiles Pillow
checks separately) is the warning silenced while decoding. WebP and TIFF decoders still refuse
images over twice Pillow's threshold themselves, so a Tessera limit set above 179 MP is capped
there for those two formats. Truncated files fail because Tessera leaves
``ImageFile.LOAD_TRUNCATED_IMAGES`` at Pillow's default, False.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.content import Content
from tessera.media.kinds import MediaKind

try:  # Pillow >= 11.3 decodes AVIF; older Pillow simply refuses it as unsupported.
    from PIL import AvifImagePlugin
except ImportError:  # pragma: no cover - depends on the installed Pillow
    AvifImagePlugin = None  # type: ignore[assignment]

# What Pillow raises on hostile bytes, besides its own UnidentifiedImageError (an OSError).
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    struct.error,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    zlib.error,
)

_WIDE_GREY = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_GREY = frozenset({"1", "L", "LA", "La"})
_TO_L_DIRECTLY = frozenset({"L", "1", "LA", "RGB", "RGBA", "RGBX", "P"})
_LUMA_WEIGHTS = (np.float32(0.299), np.float32(0.587), np.float32(0.114))

ImageOpener = Callable[[io.BytesIO, str], ImageFile.ImageFile]


@dataclass(frozen=True, slots=True)
class Luma:
    """An image's brightness, 0-255 as float32, possibly averaged down from its stored size.

    ``pixels`` has ceil(height / scale_y) rows and ceil(width / scale_x) columns; sample (i, j)
    is the mean of stored rows i*scale_y .. i*scale_y + scale_y - 1 and likewise for columns.
    """

    pixels: npt.NDArray[np.float32]
    width: int
    height: int
    scale_x: int = 1
    scale_y: int = 1

    def __post_init__(self) -> None:
        rows, cols = self.pixels.shape
        if rows != -(-self.height // self.scale_y) or cols != -(-self.width // self.scale_x):
            raise ValueError(
                f"{rows}x{cols} samples do not cover {self.height}x{self.width} pixels "
                f"at scale {self.scale_y}x{self.scale_x}"
            )

    def crop(self, top: int, bottom: int, left: int, right: int) -> Luma:
        """The samples ``[top:bottom, left:right]`` as a luma of their own, at the same scale."""
        pixels = np.ascontiguousarray(self.pixels[top:bottom, left:right])
        rows, cols = pixels.shape
        return Luma(pixels, cols * self.scale_x, rows * self.scale_y, self.scale_x, self.scale_y)

    @classmethod
    def from_array(cls, pixels: npt.ArrayLike) -> Luma:
        """Full-resolution luma from a (rows, cols) array of 0-255 values."""
        array = np.asarray(pixels, dtype=np.float32)
        if array.ndim != 2:
            raise ValueError(f"luma must be a (rows, cols) array, got shape {array.shape}")
        return cls(array, width=array.shape[1], height=array.shape[0])


def decode_luma(content: Content, *, reduce_to: int | None = None) -> Luma:
    """Decode the first frame's luma; ``reduce_to`` lets it average down to that many a side."""
    if reduce_to is not None and reduce_to < 1:
        raise ValueError(f"reduce_to must be positive, got {reduce_to}")
    if content.kind is not MediaKind.IMAGE:
        raise MediaError(f"not an image (recognised as {content.kind.value})")
    if not content.data:
        raise MediaError("empty file")
    with open_image(content) as (fmt, image):
        width, height = image.size
        try:
            return _decode(image, width, height, reduce_to)
        except Image.DecompressionBombError as e:
            raise _pillow_refused(fmt, e) from e
        except MemoryError as e:
            raise MediaLimitExceeded(f"{fmt} image of {width}x{height} is too big to decode") from e
        except _DECODE_ERRORS as e:
            raise _decode_error(fmt, e) from e


@contextmanager
def open_image(content: Content) -> Iterator[tuple[str, ImageFile.ImageFile]]:
    """An image file opened but not decoded, its size within ``max_image_pixels``: (format,
    image). Read its pixels inside the ``with`` block, where Pillow's warnings about an image
    already admitted are silenced; the file is closed when the block ends."""
    fmt, opener = _opener_for(content.data[:32])
    limit = content.limits.max_image_pixels
    # Pillow grows a GIF's canvas to fit its first frame while parsing the header.
    canvas = _gif_first_frame_size(content.data) if fmt == "GIF" else None
    if canvas is not None:
        _check_pixels(*canvas, limit)
    with _warnings_while_decoding(fmt, canvas[0] * canvas[1] if canvas else 0):
        image = _parse_header(fmt, opener, content.data)
    with image, _warnings_while_decoding(fmt, image.width * image.height):
        _check_pixels(image.width, image.height, limit)
        yield fmt, image


def luma_from_rgb(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """0.299 R + 0.587 G + 0.114 B in float32 from a (rows, cols, 3 or 4) array; alpha ignored."""
    wr, wg, wb = _LUMA_WEIGHTS
    luma: npt.NDArray[np.float32] = wr * rgb[..., 0].astype(np.float32)
    luma += wg * rgb[..., 1].astype(np.float32)
    luma += wb * rgb[..., 2].astype(np.float32)
    return luma


def _opener_for(head: bytes) -> tuple[str, ImageOpener]:
    """The format and Pillow plug-in class for a file's first bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        # The JPEG class itself, not Pillow's factory: that one may re-read the file as MPO and
        # warn about malformed MPO headers; the first picture of an MPO is what we hash anyway.
        return "JPEG", JpegImagePlugin.JpegImageFile
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", PngImagePlugin.PngImageFile
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF", GifImagePlugin.GifImageFile
    if head.startswith(b"BM"):
        return "BMP", BmpImagePlugin.BmpImageFile
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF", TiffImagePlugin.TiffImageFile
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and WebPImagePlugin.SUPPORTED:
        return "WebP", WebPImagePlugin.WebPImageFile
    if head[4:8] == b"ftyp" and AvifImagePlugin is not None and AvifImagePlugin.SUPPORTED:
        if head[8:12] in (b"avif", b"avis"):
            return "AVIF", AvifImagePlugin.AvifImageFile
        if head[8:12] in (b"mif1", b"msf1"):  # the HEIF container: AVIF inside, or HEIC
            return "HEIF", AvifImagePlugin.AvifImageFile
    raise MediaError(
        "unsupported image format (Tessera reads JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF)"
    )


def _parse_header(fmt: str, opener: ImageOpener, data: bytes) -> ImageFile.ImageFile:
    try:
        return opener(io.BytesIO(data), "")
    except Image.DecompressionBombError as e:
        raise _pillow_refused(fmt, e) from e
    except _DECODE_ERRORS as e:
        if fmt == "HEIF":
            raise MediaError("unsupported image format (HEIF without AVIF inside)") from e
        raise _decode_error(fmt, e) from e


def _check_pixels(width: int, height: int, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"image has no pixels ({width}x{height})")
    if width * height > limit:
        raise MediaLimitExceeded(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {limit}"
        )


def _pillow_refused(fmt: str, e: Image.DecompressionBombError) -> MediaLimitExceeded:
    return MediaLimitExceeded(f"{fmt} image over Pillow's own limit ({e})")


def _decode_error(fmt: str, e: Exception) -> MediaError:
    reason = str(e) or type(e).__name__
    if reason == "not identified by this driver":  # Pillow's words for a zero size or no mode
        reason = "no pixels, or an unknown pixel format"
    if "truncated" in reason.lower() or isinstance(e, EOFError):
        return MediaError(f"truncated {fmt} file ({reason})")
    return MediaError(f"corrupt {fmt} file ({reason})")


def _warnings_while_decoding(fmt: str, pixels: int) -> AbstractContextManager[object]:
    """Silence what Pillow would warn about an image Tessera has already admitted or refused.

    ``warnings.catch_warnings`` swaps process-wide filters, so it is kept to the rare cases that
    need it: an image over Pillow's own pixel threshold, and TIFF, whose parser checks its tiles
    against that threshold and warns about every malformed metadata tag (the pixels decode, or
    the decoder fails and the file is refused, either way without the warnings).
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if fmt == "TIFF":
        return _dropping_warnings(Warning)
    if pillow_limit is not None and pixels > pillow_limit:
        return _dropping_warnings(Image.DecompressionBombWarning)
    return nullcontext()


@contextmanager
def _dropping_warnings(category: type[Warning]) -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        yield


def _gif_first_frame_size(data: bytes) -> tuple[int, int] | None:
    """A GIF's canvas grown to hold its first frame, read from the bytes (as Pillow will)."""
    if len(data) < 13:
        return None  # too short for a screen descriptor: Pillow refuses it with its own message
    width, height = struct.unpack_from("<HH", data, 6)
    try:
        flags = data[10]
        pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        while data[pos] == 0x21:  # extension blocks: label, then sub-blocks until a zero length
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        if data[pos] == 0x2C:  # the first image descriptor: left, top, width, height
            x, y, w, h = struct.unpack_from("<HHHH", data, pos + 1)
            return max(width, x + w), max(height, y + h)
    except (IndexError, struct.error):
        pass  # a GIF cut short here is refused by Pillow's parser with its own message
    return width, height


def _decode(image: ImageFile.ImageFile, width: int, height: int, reduce_to: int | None) -> Luma:
    # Transparency is dropped (see the module docstring); removing it up front also keeps Pillow
    # from warning about palette transparency when converting.
    image.info.pop("transparency", None)
    if reduce_to is None:
        image.load()
        return Luma(_luma_full(image), width, height)
    scale = 1
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        scale = _jpeg_draft(image, width, height, reduce_to)
    image.load()
    # Box averaging keeps twice the samples DCT scaling does: it saves no decoding work, only
    # memory and arithmetic on big images, and measured against full-resolution PDQ hashes it
    # costs a bit more accuracy at the same size (its 8-bit rounding, PNG-sized flat areas).
    cols, rows = image.size
    fx, fy = max(1, cols // (2 * reduce_to)), max(1, rows // (2 * reduce_to))
    if scale == 1 and fx == 1 and fy == 1:
        return Luma(_luma_full(image), width, height)
    grey = _grey8(image)
    if fx > 1 or fy > 1:
        grey = grey.reduce((fx, fy))
    pixels = np.asarray(grey, dtype=np.float32)
    return Luma(pixels, width, height, scale_x=scale * fx, scale_y=scale * fy)


def _jpeg_draft(image: JpegImagePlugin.JpegImageFile, width: int, height: int, side: int) -> int:
    """Ask libjpeg for a 1/2, 1/4 or 1/8 scale decode of the Y channel; returns the scale."""
    wanted = min(width // side, height // side, 8)
    if wanted < 2:
        return 1
    scale = 1 << (wanted.bit_length() - 1)
    drafted = image.draft("L", (width // scale, height // scale))
    if drafted is None:
        return 1
    # Pillow reports the decoded box in stored pixels divided by the scale it chose.
    return max(1, round(width / drafted[1][2]))


def _luma_full(image: Image.Image) -> npt.NDArray[np.float32]:
    """Luma at the decoded size, computed in float from the colour channels."""
    mode = image.mode
    if mode in _WIDE_GREY:
        wide = np.asarray(image).astype(np.float32)
        return np.clip(wide, 0, 65535) / np.float32(257)
    if mode == "F":
        return np.clip(np.asarray(image, dtype=np.float32), 0, 255)
    if mode in _GREY:
        return np.asarray(image if mode == "L" else image.convert("L"), dtype=np.float32)
    rgb = image if mode in ("RGB", "RGBA", "RGBX") else image.convert("RGB")
    return luma_from_rgb(np.asarray(rgb))


def _grey8(image: Image.Image) -> Image.Image:
    """An 8-bit greyscale copy with the same conventions as ``_luma_full``, for box reduction."""
    mode = image.mode
    if mode in _WIDE_GREY or mode == "F":
        levels = np.rint(_luma_full(image)).astype(np.uint8)
        return Image.fromarray(levels)
    if mode == "L":
        return image
    if mode in _TO_L_DIRECTLY:
        return image.convert("L")
    return image.convert("RGB").convert("L")

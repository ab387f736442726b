"""Media kinds, recognised from a file's first bytes (never from its name)."""

from __future__ import annotations

from enum import StrEnum


class MediaKind(StrEnum):
    """What a piece of content is; the values are storage keys."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"


# (offset, magic bytes, kind). Checked in order; the first that fits wins.
_MAGIC: tuple[tuple[int, bytes, MediaKind], ...] = (
    (0, b"\xff\xd8\xff", MediaKind.IMAGE),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n", MediaKind.IMAGE),
    (0, b"GIF87a", MediaKind.IMAGE),
    (0, b"GIF89a", MediaKind.IMAGE),
    (0, b"BM", MediaKind.IMAGE),
    (0, b"II*\x00", MediaKind.IMAGE),  # TIFF, little-endian
    (0, b"MM\x00*", MediaKind.IMAGE),  # TIFF, big-endian
    (0, b"\x1aE\xdf\xa3", MediaKind.VIDEO),  # Matroska / WebM
    (0, b"OggS", MediaKind.AUDIO),
    (0, b"fLaC", MediaKind.AUDIO),
    (0, b"ID3", MediaKind.AUDIO),  # MP3 with an ID3 tag
)


def sniff_kind(head: bytes) -> MediaKind:
    """Return the media kind of a file from its first bytes (at least 16 are best)."""
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and len(head) >= 12:
        form = head[8:12]
        if form == b"WEBP":
            return MediaKind.IMAGE
        if form == b"WAVE":
            return MediaKind.AUDIO
        if form == b"AVI ":
            return MediaKind.VIDEO
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1"):
            return MediaKind.IMAGE
        if brand in (b"M4A ", b"M4B "):
            return MediaKind.AUDIO
        return MediaKind.VIDEO
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return MediaKind.AUDIO  # an MPEG audio frame sync (MP3 without a tag)
    return MediaKind.FILE

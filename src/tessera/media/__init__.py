"""Media: recognising what a file is, and decoding it within limits."""

from tessera.media.content import Content, MediaLimits
from tessera.media.kinds import MediaKind, sniff_kind

__all__ = ["Content", "MediaKind", "MediaLimits", "sniff_kind"]

"""Content: the bytes of one file, its media kind, and the limits that apply when decoding it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.kinds import MediaKind, sniff_kind


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Limits on what Tessera will read and decode. Defaults come from Settings."""

    max_file_bytes: int = 512 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    max_media_seconds: float = 4 * 3600.0
    max_video_pixels: int = 8192 * 4320
    max_decode_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class Content:
    """One piece of content to hash: its bytes, its media kind, and a name for messages."""

    data: bytes
    kind: MediaKind
    name: str = "<bytes>"
    limits: MediaLimits = field(default_factory=MediaLimits)

    @classmethod
    def from_bytes(
        cls, data: bytes, name: str = "<bytes>", limits: MediaLimits | None = None
    ) -> Content:
        """Wrap bytes, recognising their media kind from the content."""
        limits = limits or MediaLimits()
        if not data:
            raise MediaError("empty file")
        if len(data) > limits.max_file_bytes:
            raise MediaLimitExceeded(
                f"file is {len(data)} bytes, over the limit of {limits.max_file_bytes}"
            )
        return cls(data=data, kind=sniff_kind(data[:64]), name=name, limits=limits)

    @classmethod
    def from_path(cls, path: Path, limits: MediaLimits | None = None) -> Content:
        """Read a file within the byte limit and recognise its media kind."""
        limits = limits or MediaLimits()
        try:
            size = path.stat().st_size
            if size > limits.max_file_bytes:
                raise MediaLimitExceeded(
                    f"file is {size} bytes, over the limit of {limits.max_file_bytes}"
                )
            with path.open("rb") as f:
                data = f.read(limits.max_file_bytes + 1)
        except IsADirectoryError as e:
            raise MediaError("is a directory") from e
        except PermissionError as e:
            raise MediaError("permission denied") from e
        except FileNotFoundError as e:
            raise MediaError("no such file") from e
        except OSError as e:
            raise MediaError(f"cannot read: {e.strerror or e}") from e
        return cls.from_bytes(data, name=str(path), limits=limits)

"""What audio and video decoding share: PyAV's error types and a guarded packet loop.

``decoded_frames`` yields a stream's frames while enforcing the wall-clock decode budget (checked
before every packet and every frame, so an endless or very slow stream fails instead of hanging)
and tolerating isolated bad packets: after ``MAX_BAD_PACKETS`` undecodable packets in a row the
stream counts as corrupt (or undecodable, when nothing decoded at all).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import av

from tessera.errors import MediaError, MediaLimitExceeded

AV_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, ValueError, EOFError)
MAX_BAD_PACKETS = 50


def decoded_frames(
    container: Any,
    stream: Any,
    deadline: float,
    budget: float,
    what: str,
    packets: Iterable[Any] | None = None,
) -> Iterator[Any]:
    """Decoded frames of ``stream`` (a ``what`` stream, e.g. "video") within the deadline;
    ``packets`` replaces the stream's demuxed packets (a sparse decode steers the decoder)."""
    bad_in_a_row = 0
    decoded_any = False
    for packet in container.demux(stream) if packets is None else packets:
        if time.monotonic() > deadline:
            raise MediaLimitExceeded(f"decoding took longer than the limit of {budget:g} s")
        try:
            frames = packet.decode()
        except av.ArgumentError as e:  # the decoder refused to open (e.g. over max_pixels)
            raise MediaError(f"cannot decode {what}: {reason(e)}") from e
        except AV_ERRORS as e:
            bad_in_a_row += 1
            if bad_in_a_row > MAX_BAD_PACKETS:
                state = "corrupt" if decoded_any else "undecodable"
                raise MediaError(f"{state} {what} stream: {reason(e)}") from e
            continue
        bad_in_a_row = 0
        for frame in frames:
            if time.monotonic() > deadline:
                raise MediaLimitExceeded(f"decoding took longer than the limit of {budget:g} s")
            decoded_any = True
            yield frame


def reason(error: BaseException) -> str:
    """A short reason from a PyAV error (its FFmpeg message, without the file name)."""
    strerror = getattr(error, "strerror", None)
    return str(strerror or error or type(error).__name__)

"""Video decoding: the brightness (luma) of a video's frames, sampled in time, within limits.

Flow for one file (its bytes are already in memory, within ``max_file_bytes``):

1. PyAV (FFmpeg) opens the bytes as a container and picks its first video stream. A container
   FFmpeg cannot open is a MediaError; one with sound but no picture (an ``.mp4`` of music)
   yields no frames, so video signal types do not apply to it; one with neither is a MediaError.
2. Before any pixel is decoded, the stream's declared frame size is checked against
   ``max_video_pixels``, and the decoder is opened with FFmpeg's own ``max_pixels`` set to the
   same limit, so a stream that grows its frames mid-way is refused by the decoder too.
3. Only that stream's packets are demuxed and decoded, on one thread (parallelism is across
   files). With ``fast=True`` the decoder skips the loop (deblocking) filter: a fifth of H.264's
   decoding time, and a few bits of PDQ at most. Every frame is still decoded: skipping B-frames
   would halve the time again, but then two copies of a video offer frames at different phases,
   and in fast motion frames a tenth of a second apart are 60-100 bits apart (measured on the
   shared chair clips: 81 % of a greyscale copy's frames matched instead of 100 %).
4. Each frame's time is its presentation timestamp, from the stream's first frame, clamped so it
   never goes backwards; a frame without one is placed after the previous frame by the stream's
   frame rate. ``frames_per_second`` keeps the first frame at or after each tick of that rate
   (None keeps every decoded frame). The Y plane is read as is (no colour conversion) and, when
   ``reduce_to`` is given, box-averaged by a whole factor that keeps at least that many samples
   a side (``Luma.scale_x``/``scale_y`` say by how much).
5. Limits are checked as frames arrive, never from the container's declared duration (a hostile
   header may claim anything): a frame later than ``max_media_seconds``, or more frames than that
   many seconds could hold at ``MAX_FRAME_RATE``, is MediaLimitExceeded, and so is decoding for
   longer than ``max_decode_seconds`` of wall clock (checked between packets and frames, so an
   endless or pathological stream stops instead of hanging).
6. Undecodable packets are skipped, as players do, so a truncated file gives the frames before
   the cut; a stream from which no frame decodes is a MediaError.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media._av import AV_ERRORS, decoded_frames, reason
from tessera.media.content import Content
from tessera.media.image import Luma
from tessera.media.kinds import MediaKind

__all__ = ["MAX_FRAME_RATE", "VideoFrame", "decode_video", "open_decoder"]

# No real video has more frames a second; more than this many per second of the limit is hostile.
MAX_FRAME_RATE = 240
_TICK_SLACK = 1e-3  # a frame stamped within a millisecond of a sampling tick counts as on it
_PLANAR_Y = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv410p",
        "yuv411p",
        "yuv440p",
        "yuvj440p",
        "nv12",
        "nv21",
        "gray",
    }
)


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded frame: its number among the decoded frames, its time, and its luma."""

    number: int
    timestamp: float
    luma: Luma


def decode_video(
    content: Content,
    *,
    frames_per_second: float | None = None,
    reduce_to: int | None = None,
    fast: bool = True,
) -> Iterator[VideoFrame]:
    """Decode a video's frames in order, sampled at ``frames_per_second`` (None: every frame).

    Yields nothing for a container with sound but no video stream. Raises MediaError when the
    content cannot be decoded and MediaLimitExceeded when it breaks one of its limits.
    """
    if content.kind is not MediaKind.VIDEO:
        raise MediaError(f"not a video (recognised as {content.kind.value})")
    if frames_per_second is not None and frames_per_second <= 0:
        raise ValueError("frames_per_second must be positive")
    if reduce_to is not None and reduce_to < 1:
        raise ValueError("reduce_to must be positive")
    limits = content.limits
    if not content.data:
        raise MediaError("empty file")
    if len(content.data) > limits.max_file_bytes:
        raise MediaLimitExceeded(
            f"file is {len(content.data)} bytes, over the limit of {limits.max_file_bytes}"
        )
    deadline = time.monotonic() + limits.max_decode_seconds
    try:
        container = av.open(io.BytesIO(content.data), mode="r")
    except AV_ERRORS as e:
        raise MediaError(f"cannot open as video: {reason(e)}") from e
    with container:
        if not container.streams.video:
            if container.streams.audio:
                return
            raise MediaError("no video stream")
        stream = container.streams.video[0]
        open_decoder(stream, limits.max_video_pixels, fast)
        step = None if frames_per_second is None else 1.0 / frames_per_second
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        max_frames = int(limits.max_media_seconds * MAX_FRAME_RATE) + 1
        origin: float | None = None
        last = 0.0
        next_tick = 0.0
        count = 0
        try:
            for frame in decoded_frames(
                container, stream, deadline, limits.max_decode_seconds, "video"
            ):
                count += 1
                if count > max_frames:
                    raise MediaLimitExceeded(
                        f"video has more frames than {limits.max_media_seconds:g} s can hold"
                    )
                if frame.width * frame.height > limits.max_video_pixels:
                    raise MediaLimitExceeded(
                        _too_big(frame.width, frame.height, limits.max_video_pixels)
                    )
                raw = frame.time
                if raw is None:
                    at = last + 1.0 / rate if count > 1 else 0.0
                else:
                    origin = raw if origin is None else origin
                    at = max(raw - origin, last)
                last = at
                if at > limits.max_media_seconds:
                    raise MediaLimitExceeded(
                        f"video is longer than the limit of {limits.max_media_seconds:g} s"
                    )
                if step is not None:
                    if at < next_tick - _TICK_SLACK:
                        continue
                    next_tick += step * (1 + int((at - next_tick) / step))
                yield VideoFrame(count - 1, at, _luma(frame, reduce_to))
        except AV_ERRORS as e:
            raise MediaError(f"cannot decode video: {reason(e)}") from e
        if count == 0:
            raise MediaError("no video frame could be decoded")


def open_decoder(stream: Any, max_pixels: int, fast: bool) -> None:
    """Check the declared frame size and set the decoder up within the pixel limit."""
    context = stream.codec_context
    if context is None:  # FFmpeg found a stream but knows no decoder for it
        raise MediaError("cannot decode video: unknown or unsupported codec")
    width, height = int(context.width or 0), int(context.height or 0)
    if width * height > max_pixels:
        raise MediaLimitExceeded(_too_big(width, height, max_pixels))
    context.thread_count = 1
    options = {"max_pixels": str(max_pixels)}
    if fast:
        options["skip_loop_filter"] = "all"
    context.options = options


def _luma(frame: Any, reduce_to: int | None) -> Luma:
    """The frame's Y plane (converted only for non-YUV formats), box-averaged when asked."""
    width, height = int(frame.width), int(frame.height)
    if frame.format.name in _PLANAR_Y:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        y: npt.NDArray[np.uint8] = rows[:height, :width]
    else:
        y = frame.to_ndarray(format="gray")
    factor = 1 if reduce_to is None else max(1, min(width, height) // reduce_to)
    if factor == 1:
        return Luma(y.astype(np.float32), width=width, height=height)
    rows_out, cols_out = height // factor, width // factor
    # An area resize by a whole factor is the box average Luma's scale promises (to within
    # rounding to uint8), an order of magnitude faster than summing blocks in numpy. OpenCV
    # reads the plane's rows in place (a row stride is all it needs), so nothing is copied.
    whole = y[: rows_out * factor, : cols_out * factor]
    reduced = cv2.resize(whole, (cols_out, rows_out), interpolation=cv2.INTER_AREA)
    pixels = np.asarray(reduced, dtype=np.float32)
    return Luma(pixels, cols_out * factor, rows_out * factor, factor, factor)


def _too_big(width: int, height: int, max_pixels: int) -> str:
    return f"video frame of {width}x{height} is over the limit of {max_pixels} pixels"

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
3b. That phase problem needs both sides sparse. A video hashed to be looked up against dense
   references (``sparse_gap``) may be sparse. The stream is demuxed first (no decoding) to
   plan: where two keyframes are at most ``sparse_gap`` seconds apart, only the keyframe's
   packet is kept; elsewhere evenly spaced points between them are wanted, the GOP's packets
   are kept, and its reference frames are decoded (FFmpeg's ``skip_frame=NONREF``) up to the
   last point, the rest skipped (``NONKEY``). The keyframes and the first frame at or after
   each point are yielded. A container whose packets lack timestamps is decoded fully and
   sampled every ``sparse_gap`` seconds. Measured on the shared clips (GOPs of 2 s), gap 2 s,
   decoding only: 650x realtime on SD, 170x on HD, one thread (dense: 36x and 14x).
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
import math
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
_BOX_FACTORS = frozenset({3, 5})  # reduction factors faster as a box filter than an area resize
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
    sparse_gap: float | None = None,
) -> Iterator[VideoFrame]:
    """Decode a video's frames in order, sampled at ``frames_per_second`` (None: every frame).

    With ``sparse_gap``, decode only what a frame at least every ``sparse_gap`` seconds needs
    (step 3b of the module docstring); ``frames_per_second`` is then ignored. Yields nothing for
    a container with sound but no video stream. Raises MediaError when the content cannot be
    decoded and MediaLimitExceeded when it breaks one of its limits.
    """
    if content.kind is not MediaKind.VIDEO:
        raise MediaError(f"not a video (recognised as {content.kind.value})")
    if frames_per_second is not None and frames_per_second <= 0:
        raise ValueError("frames_per_second must be positive")
    if reduce_to is not None and reduce_to < 1:
        raise ValueError("reduce_to must be positive")
    if sparse_gap is not None and sparse_gap <= 0:
        raise ValueError("sparse_gap must be positive")
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
        step = None if frames_per_second is None or sparse_gap else 1.0 / frames_per_second
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        max_frames = int(limits.max_media_seconds * MAX_FRAME_RATE) + 1
        origin: float | None = None
        last = 0.0
        next_tick = 0.0
        count = 0
        try:
            plan = None
            if sparse_gap is not None:
                budget = limits.max_decode_seconds
                plan = _SparsePlan.of(container, stream, sparse_gap, deadline, budget)
                if plan is None:  # no timestamps to plan by: decode it all, sample at the gap
                    container.seek(0)
                    step = sparse_gap
            packets = plan.steer(stream.codec_context) if plan else None
            for frame in decoded_frames(
                container, stream, deadline, limits.max_decode_seconds, "video", packets
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
                if plan:
                    if not plan.wanted(frame):
                        continue
                elif step is not None:
                    if at < next_tick - _TICK_SLACK:
                        continue
                    next_tick += step * (1 + int((at - next_tick) / step))
                yield VideoFrame(count - 1, at, _luma(frame, reduce_to))
        except AV_ERRORS as e:
            raise MediaError(f"cannot decode video: {reason(e)}") from e
        if count == 0:
            raise MediaError("no video frame could be decoded")


class _SparsePlan:
    """What a sparse decode needs (step 3b): its packets (a GOP whose keyframe is all it needs
    keeps that packet only), the times wanted, and up to when each GOP that needs more is
    decoded; ``steer`` feeds the packets and tells the decoder what to skip, ``wanted`` says
    which decoded frames to keep."""

    def __init__(
        self, packets: list[Any], points: list[float], need_until: dict[float, float]
    ) -> None:
        self.packets = packets
        self.points = points  # every wanted time (stream clock), ascending
        self.need_until = need_until  # keyframe time -> the last point its GOP must decode to
        self.next_point = 0
        self.until: float | None = None

    @classmethod
    def of(
        cls, container: Any, stream: Any, gap: float, deadline: float, budget: float
    ) -> _SparsePlan | None:
        """The plan from a demux of the stream (no decoding); None when a packet has no
        timestamp (the stream is then decoded fully, from a fresh demux)."""
        base = stream.time_base
        if base is None:
            return None
        packets: list[Any] = []
        gop: list[Any] = []  # the packets of the GOP being read, its keyframe first
        points: list[float] = []
        need_until: dict[float, float] = {}

        def close(following: float) -> None:
            """Plan the GOP just read, which the keyframe at ``following`` (seconds) ends."""
            key = float(gop[0].pts * base)
            points.append(key)
            inside = math.ceil((following - key) / gap - 1e-9) - 1
            if inside > 0:
                spaced = [key + j * (following - key) / (inside + 1) for j in range(1, inside + 1)]
                points.extend(spaced)
                need_until[key] = spaced[-1]
                packets.extend(gop)
            else:
                packets.append(gop[0])
            gop.clear()

        end = 0.0
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                raise MediaLimitExceeded(f"decoding took longer than the limit of {budget:g} s")
            if packet.size == 0:  # the flush packet that ends the stream
                packets.append(packet)
                continue
            if packet.pts is None:
                return None
            at = float(packet.pts * base)
            end = max(end, at)
            if packet.is_keyframe:
                if gop:
                    close(at)
                gop.append(packet)
            elif gop:
                gop.append(packet)
        if gop:
            close(end + 1e-3)
        if not points:
            return None
        flush = [p for p in packets if p.size == 0]
        packets = [p for p in packets if p.size != 0] + flush
        return cls(packets, sorted(set(points)), need_until)

    def steer(self, context: Any) -> Iterator[Any]:
        """The packets, with the decoder told at each keyframe what of its GOP to decode."""
        mode = ""
        for packet in self.packets:
            if packet.is_keyframe and packet.size:
                self.until = self.need_until.get(float(packet.pts * packet.time_base))
                wanted_mode = "NONKEY" if self.until is None else "NONREF"
                if wanted_mode != mode:
                    context.skip_frame = mode = wanted_mode
            elif self.until is None and mode != "NONKEY":
                context.skip_frame = mode = "NONKEY"
            yield packet

    def wanted(self, frame: Any) -> bool:
        """Whether to keep a decoded frame; once the GOP's last point is reached, the rest of
        the GOP is skipped."""
        at = frame.time
        if at is None:
            return bool(frame.key_frame)
        if self.until is not None and at >= self.until - _TICK_SLACK:
            self.until = None
        keep = bool(frame.key_frame)
        while (
            self.next_point < len(self.points) and self.points[self.next_point] <= at + _TICK_SLACK
        ):
            self.next_point += 1
            keep = True
        return keep


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
    if factor in _BOX_FACTORS:
        # OpenCV's area resize has a fast path for even factors only; for 3 and 5 (SD and HD
        # frames) a box filter read at every factor-th sample is the same average (to the
        # same rounding), 2-3x faster.
        start = factor // 2
        box = cv2.boxFilter(whole, -1, (factor, factor), normalize=True)
        reduced = box[start::factor, start::factor]
    else:
        reduced = cv2.resize(whole, (cols_out, rows_out), interpolation=cv2.INTER_AREA)
    pixels = np.asarray(reduced, dtype=np.float32)
    return Luma(pixels, cols_out * factor, rows_out * factor, factor, factor)


def _too_big(width: int, height: int, max_pixels: int) -> str:
    return f"video frame of {width}x{height} is over the limit of {max_pixels} pixels"

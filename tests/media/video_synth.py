"""Small test videos drawn with numpy and encoded with PyAV (no files, no external tools)."""

from __future__ import annotations

import io
from collections.abc import Callable

import av
import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]

# container format -> (codec, pixel format)
CONTAINERS = {
    "mp4": ("libx264", "yuv420p"),
    "mov": ("libx264", "yuv420p"),
    "matroska": ("libx264", "yuv420p"),
    "webm": ("libvpx", "yuv420p"),
    "avi": ("mpeg4", "yuv420p"),
}


def scene(seed: int, width: int = 160, height: int = 120) -> Callable[[int], Frame]:
    """A smooth random scene that pans slowly and changes every second: frame i as RGB."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 256, size=(12, 6, 8, 3), dtype=np.uint8)

    def draw(i: int) -> Frame:
        base = tiles[(i // 10) % len(tiles)]
        big = cv2.resize(base, (width + 20, height), interpolation=cv2.INTER_CUBIC)
        shift = (i % 10) * 2
        return np.ascontiguousarray(big[:, shift : shift + width])

    return draw


def encode(
    frames: int,
    draw: Callable[[int], Frame],
    *,
    fps: int = 10,
    container: str = "mp4",
) -> bytes:
    """Encode ``frames`` frames of ``draw`` into a container, as bytes."""
    codec, pix_fmt = CONTAINERS[container]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        first = draw(0)
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = pix_fmt
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        stream.codec_context.thread_count = 1  # threaded x264 output varies from run to run;
        # ultrafast has no macroblock tree, the other source of run-to-run variation
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw(i), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def encode_audio_only(seconds: float = 1.0) -> bytes:
    """An MP4 (ftyp isom) with a sine tone and no video stream."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        _add_tone(out, seconds)
    return buf.getvalue()


def _add_tone(out: av.container.OutputContainer, seconds: float) -> None:
    rate = 16000
    stream = out.add_stream("aac", rate=rate)
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, len(samples), 1024):
        chunk = samples[start : start + 1024].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))

"""Audio decoding: any audio file, or the audio track of a video, to mono float32 samples.

Flow for one file (its bytes are already in memory, within ``max_file_bytes``):

1. PyAV (FFmpeg) opens the bytes as a container and picks its first audio stream; a file FFmpeg
   cannot open, or an audio file without an audio stream, is a MediaError. A video without sound
   has no audio to decode: ``decode_audio`` returns None for it.
2. Packets of that stream only are demuxed and decoded; each decoded frame goes through one
   ``AudioResampler`` to mono float32 at the rate the caller asks for.
3. Limits are checked as samples arrive, never from the container's declared duration (a hostile
   header may claim anything): more than ``max_media_seconds`` of decoded audio is
   MediaLimitExceeded, and so is a decode running longer than ``max_decode_seconds`` of wall
   clock (checked between packets, so an endless or pathological stream stops instead of
   hanging).
4. Corrupt packets in the middle of a stream are skipped, as players do, and a truncated file
   gives the audio before the cut; a file from which nothing decodes is a MediaError.
"""

from __future__ import annotations

import io
import time
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media._av import AV_ERRORS, decoded_frames, reason
from tessera.media.content import Content
from tessera.media.kinds import MediaKind

__all__ = ["AUDIO_KINDS", "decode_audio"]

AUDIO_KINDS = frozenset({MediaKind.AUDIO, MediaKind.VIDEO})
# Errors PyAV raises for files FFmpeg cannot read; all become MediaError.
# How many undecodable packets in a row we skip before calling the stream corrupt.


def decode_audio(content: Content, sample_rate: int) -> npt.NDArray[np.float32] | None:
    """Mono float32 samples at ``sample_rate``; None for a video without sound.

    Raises MediaError when the content cannot be decoded and MediaLimitExceeded when it is
    longer than ``max_media_seconds`` or takes longer than ``max_decode_seconds`` to decode.
    """
    if content.kind not in AUDIO_KINDS:
        raise MediaError(f"{content.kind.value} content has no audio to decode")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    limits = content.limits
    max_samples = int(limits.max_media_seconds * sample_rate)
    deadline = time.monotonic() + limits.max_decode_seconds
    try:
        container = av.open(io.BytesIO(content.data), mode="r")
    except AV_ERRORS as e:
        raise MediaError(f"cannot open as {content.kind.value}: {reason(e)}") from e
    try:
        with container:
            if not container.streams.audio:
                if content.kind is MediaKind.VIDEO:
                    return None
                raise MediaError("no audio stream")
            stream = container.streams.audio[0]
            chunks: list[npt.NDArray[np.float32]] = []
            total = 0
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in decoded_frames(
                container, stream, deadline, limits.max_decode_seconds, "audio"
            ):
                for out in resampler.resample(frame):
                    total += _collect(out, chunks)
                if total > max_samples:
                    raise MediaLimitExceeded(
                        f"audio is longer than the limit of {limits.max_media_seconds:g} s"
                    )
            for out in resampler.resample(None):
                total += _collect(out, chunks)
    except AV_ERRORS as e:
        raise MediaError(f"cannot decode audio: {reason(e)}") from e
    if total == 0:
        raise MediaError("no audio could be decoded")
    if total > max_samples:
        raise MediaLimitExceeded(
            f"audio is longer than the limit of {limits.max_media_seconds:g} s"
        )
    samples = np.concatenate(chunks)
    # Decoders of corrupt input can emit NaN or huge values; they must not reach the fingerprint.
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples


def _collect(frame: Any, chunks: list[npt.NDArray[np.float32]]) -> int:
    """Append one resampled mono frame's samples; returns how many."""
    data = np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)
    if data.size:
        chunks.append(data)
    return int(data.size)

"""The ``tessera_audio`` signal type: an audio fingerprint that survives pitch and speed changes.

Flow for one audio file (or the sound of a video):

1. ``tessera.media.audio.decode_audio`` decodes it, within the content's limits, to mono float32
   at 8 kHz (a video without sound gives no signal);
2. ``tessera.signals._audio_features`` turns it into 32-bit sub-fingerprints, 10 a second, each
   at 9 pitch positions (-1..+1 semitone in quarter semitones);
3. the signal value is the text ``2:10:<base64>``: format version 2, 10 frames a second, and the
   sub-fingerprints as little-endian uint32, frame by frame, 9 words a frame (word 4 is the
   unshifted one). About 1.3 MB an hour (1.7 MB as text); the store keys values by digest.

Matching (``tessera.index.audio.AudioIndex``) finds where a query sits inside a reference: exact
and one-bit-off lookups of the query's keys at every pitch position vote for (reference, time
offset); the best candidates are verified by the bit error rate (BER) of the whole alignment,
searched over tempo factors 0.95-1.05 and nearby offsets.

Distance: ``round(200 * BER)``, capped at 100: 0 is identical, 100 is no better than chance
(unrelated audio sits at 76-100 in the benchmark: the best of many alignments of two unrelated
pieces is better than chance). So ``score = 100 - distance`` is the percentage of agreement
above chance. The default threshold, 60 (BER 0.30), keeps every transform of
``bench/bench_audio.py`` (codecs, telephone band, volume, ±5% speed or tempo, ±1 semitone: all
at 41 or less; 10 dB white noise, once each band's noise floor is subtracted, has a median of
29 and a maximum of 56 on synthetic music and speech) and no unrelated audio (76 or more,
measured on synthetic music that shares its instruments and beat, and on other words in the
same espeak-ng voices); a bank may choose up to 66.
``distance(a, b)`` aligns the shorter fingerprint inside the longer one.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidSignal, MediaError
from tessera.media.audio import AUDIO_KINDS, decode_audio
from tessera.signals._audio_features import (
    FRAMES_PER_SECOND,
    SAMPLE_RATE,
    SHIFTS,
    fingerprint_words,
)
from tessera.signals.base import Signal, SignalType

if TYPE_CHECKING:
    from tessera.index.base import SignalIndex
    from tessera.media.content import Content

__all__ = ["TesseraAudioSignal", "decode_value", "encode_value"]

VERSION = 2  # 2: noise floor removed before the bits (version 1 values are refused)
MIN_SECONDS = 3.0  # shorter audio has too few frames to match without chance matches
_PREFIX = f"{VERSION}:{FRAMES_PER_SECOND:g}:"
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_FRAME_BYTES = 4 * SHIFTS


def encode_value(words: npt.NDArray[np.uint32]) -> str:
    """The signal text of a frames x 9 array of sub-fingerprints."""
    if words.ndim != 2 or words.shape[1] != SHIFTS or words.shape[0] == 0:
        raise ValueError(f"expected a non-empty frames x {SHIFTS} array, got {words.shape}")
    packed = np.ascontiguousarray(words, dtype="<u4").tobytes()
    return _PREFIX + base64.b64encode(packed).decode("ascii")


def decode_value(value: str) -> npt.NDArray[np.uint32]:
    """The frames x 9 sub-fingerprints of a signal; InvalidSignal says what is wrong otherwise."""
    if not isinstance(value, str):
        raise InvalidSignal(f"tessera_audio must be a string, got {type(value).__name__}")
    text = value.strip()
    version, sep, rest = text.partition(":")
    if not sep or not version.isdigit():
        raise InvalidSignal(
            f"tessera_audio must start with its format version, as in '{_PREFIX}...'"
        )
    if int(version) != VERSION:
        raise InvalidSignal(
            f"tessera_audio format version {version} is not supported (only {VERSION}; "
            "fingerprint the media again)"
        )
    rate, sep, payload = rest.partition(":")
    if not sep or rate != f"{FRAMES_PER_SECOND:g}":
        raise InvalidSignal(
            f"tessera_audio version {VERSION} has {FRAMES_PER_SECOND:g} frames a second"
        )
    if not payload:
        raise InvalidSignal("tessera_audio has no frames")
    if not _BASE64.fullmatch(payload) or len(payload) % 4:
        raise InvalidSignal("tessera_audio frames must be padded standard base64")
    try:
        raw = base64.b64decode(payload, validate=True)
    except binascii.Error as e:
        raise InvalidSignal(f"tessera_audio frames are not valid base64: {e}") from e
    if base64.b64encode(raw).decode("ascii") != payload:
        raise InvalidSignal("tessera_audio frames are not canonical base64")
    if len(raw) % _FRAME_BYTES:
        raise InvalidSignal(
            f"tessera_audio frames must be {_FRAME_BYTES} bytes each, got {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32).reshape(-1, SHIFTS)


class TesseraAudioSignal(SignalType):
    """Tessera's audio fingerprint: finds excerpts under codecs, noise, speed and pitch changes."""

    name = "tessera_audio"
    media_kinds = AUDIO_KINDS
    default_threshold = 60
    max_threshold = 66

    @classmethod
    def validate(cls, value: str) -> str:
        """Version, frame rate and canonical base64 of whole frames; whitespace trimmed."""
        decode_value(value)
        return value.strip()

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """The distance of the best alignment of the shorter fingerprint inside the longer."""
        from tessera.index.audio import best_alignment

        wa, wb = decode_value(a), decode_value(b)
        query, ref = (wa, wb) if (len(wa), a) <= (len(wb), b) else (wb, wa)
        found = best_alignment(query, ref)
        return 100 if found is None else found.distance

    @classmethod
    def hash_content(cls, content: Content) -> Signal | None:
        """The fingerprint of the audio (or a video's sound); None for a silent video."""
        if content.kind not in cls.media_kinds:
            return None
        samples = decode_audio(content, SAMPLE_RATE)
        if samples is None:
            return None
        seconds = len(samples) / SAMPLE_RATE
        if seconds < MIN_SECONDS:
            raise MediaError(
                f"audio is {seconds:.2f} s long; at least {MIN_SECONDS:g} s is needed to "
                "fingerprint it"
            )
        words = fingerprint_words(samples)
        if len(words) == 0:
            raise MediaError("audio is too short to fingerprint")
        return Signal(cls.name, encode_value(words))

    @classmethod
    def new_index(cls) -> SignalIndex:
        """An inverted index over sub-fingerprint keys with time-offset voting."""
        from tessera.index.audio import AudioIndex

        return AudioIndex()

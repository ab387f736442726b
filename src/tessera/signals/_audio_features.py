"""Audio fingerprint features: mono samples -> 32-bit sub-fingerprints, 10 per second, 9 pitches.

Flow (all constants below are part of the signal format; changing one is a new format version):

1. The samples (mono, ``SAMPLE_RATE`` Hz) are cut into Hann-windowed frames of ``FFT_SIZE``
   samples every ``HOP`` samples (0.256 s windows, 10 frames a second) and turned into a power
   spectrum.
2. A log-frequency filterbank sums each spectrum into ``POSITIONS`` bands, one semitone wide,
   whose centres are a quarter semitone apart from ``LOWEST_HZ`` (358 Hz to 2.8 kHz: inside
   the telephone band, below what low-bitrate codecs cut). On this axis a pitch shift is a
   translation: a copy shifted by k quarter semitones has the same bands k positions away.
3. Steady sound is taken out of each band: its energy, smoothed over ``NOISE_SMOOTH`` frames,
   has a running minimum over ``NOISE_WINDOW`` frames (±3 s), the band's noise floor;
   ``NOISE_OVERSUBTRACT`` times that floor is subtracted (spectral subtraction). Added
   stationary noise (hiss, hum, a room) lifts every frame of a band alike, so this removes it,
   while music and speech, which come and go within seconds, keep their changes. Without it,
   the noise of a 10 dB SNR copy drowns the quiet bands' changes and flips their bits.
4. Band energies become log energies with a floor at the frame's mean band energy, so volume
   changes cancel and quiet bands, which noise would fill, sit at the floor instead of
   flickering.
5. 32 box filters over the (time x log-frequency) image give one bit each, the sign of the
   response: 16 time-derivative filters (energy of a 4-semitone region over the next 0.3 s minus
   the last 0.3 s, less the same change of the whole span the filters read, so the common rise
   and decay of every note and beat, which unrelated music shares, cancels) and 16
   checkerboards (the same for the difference between a region's lower and upper half). Signs
   of differences are immune to gain, and time differences to fixed equalisation (telephone
   band, codecs); boxes of 4 semitones x 0.3 s average out noise.
6. The 32 filters are evaluated at 9 pitch positions, shifted by k = -4..4 quarter semitones
   (±1 semitone): word k of a copy pitched k quarter semitones up reads the same bands as word 0
   of the original. References are indexed by word 0; a query is looked up with all 9.

Bit order: bit i of a word is filter i; the first 24 bits (the 16 time-derivative filters and
the 8 lower checkerboards, the most robust under noise) are the index key.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
FFT_SIZE = 2048
HOP = 800
FRAMES_PER_SECOND = SAMPLE_RATE / HOP
LOWEST_HZ = 358.0
STEPS_PER_OCTAVE = 48  # quarter semitones
BAND_WIDTH_STEPS = 4  # each band is one semitone wide
MAX_SHIFT = 4  # pitch shifts of -4..4 quarter semitones
SHIFTS = 2 * MAX_SHIFT + 1
POSITIONS = 144
HALF_SPAN = 3  # box filters look 3 frames (0.3 s) back and ahead
KEY_BITS = 24
# (kind, first position, width in positions): T = time derivative, TF = checkerboard.
FILTERS: tuple[tuple[str, int, int], ...] = tuple(
    [("T", 8 * i, 16) for i in range(16)] + [("TF", 8 * i, 16) for i in range(16)]
)
SPAN = max(first + width for _, first, width in FILTERS)  # positions the filters read
_FLOOR = 1.0  # relative to the frame's mean band energy (chosen by bench/bench_audio.py)
# Noise floor (step 3), chosen by bench/bench_audio.py on 10 dB SNR white noise.
NOISE_SMOOTH = 5  # frames (0.5 s) of energy averaged before the running minimum
NOISE_WINDOW = 61  # frames (6.1 s) the running minimum looks at, centred
NOISE_OVERSUBTRACT = 2.0  # the minimum of smoothed noise sits below its mean: subtract twice it
_BLOCK_FRAMES = 2048  # frames per STFT block, to bound memory on long files


@cache
def _filterbank() -> npt.NDArray[np.float32]:
    """(FFT bins used) x POSITIONS weights: the share of each FFT bin inside each band."""
    bin_hz = SAMPLE_RATE / FFT_SIZE
    top = LOWEST_HZ * 2 ** ((POSITIONS + BAND_WIDTH_STEPS) / STEPS_PER_OCTAVE)
    n_bins = int(top / bin_hz) + 2
    lo_b = np.arange(n_bins) * bin_hz - bin_hz / 2
    hi_b = lo_b + bin_hz
    half = BAND_WIDTH_STEPS / 2
    centres = np.arange(POSITIONS)
    lo = LOWEST_HZ * 2 ** ((centres - half) / STEPS_PER_OCTAVE)
    hi = LOWEST_HZ * 2 ** ((centres + half) / STEPS_PER_OCTAVE)
    overlap = np.minimum(hi_b[:, None], hi[None, :]) - np.maximum(lo_b[:, None], lo[None, :])
    weights: npt.NDArray[np.float32] = (np.clip(overlap, 0.0, None) / bin_hz).astype(np.float32)
    return weights


@cache
def _window() -> npt.NDArray[np.float32]:
    return np.hanning(FFT_SIZE).astype(np.float32)


def band_energies(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Frames x POSITIONS band energies (steps 1-2 above); empty when shorter than a window."""
    n_frames = 0 if len(samples) < FFT_SIZE else 1 + (len(samples) - FFT_SIZE) // HOP
    bank = _filterbank()
    window = _window()
    out = np.empty((n_frames, POSITIONS), dtype=np.float32)
    offsets = np.arange(FFT_SIZE)
    for first in range(0, n_frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, n_frames - first)
        index = offsets[None, :] + HOP * np.arange(first, first + count)[:, None]
        spectrum = np.fft.rfft(samples[index] * window, axis=1)[:, : bank.shape[0]]
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        out[first : first + count] = power @ bank
    return out


def remove_noise_floor(energy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Band energies less ``NOISE_OVERSUBTRACT`` times each band's running noise floor (step 3).

    OpenCV's box filter and erosion run along the time axis (image rows) in O(1) per element,
    so the step costs little next to the FFT; at the edges the window holds what there is.
    """
    if len(energy) == 0:
        return energy
    smooth = cv2.blur(energy, (1, NOISE_SMOOTH), borderType=cv2.BORDER_REPLICATE)
    kernel = np.ones((NOISE_WINDOW, 1), dtype=np.uint8)
    floor = cv2.erode(smooth, kernel, borderType=cv2.BORDER_REPLICATE)
    return np.maximum(energy - NOISE_OVERSUBTRACT * floor, 0.0).astype(np.float32)


def log_bands(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Frames x POSITIONS log band energies (steps 1-4 above); empty when shorter than a window."""
    energy = remove_noise_floor(band_energies(samples))
    floor = _FLOOR * energy.mean(axis=1, keepdims=True) + 1e-10
    out: npt.NDArray[np.float32] = np.log(energy + floor).astype(np.float32)
    return out


def words_from_bands(bands: npt.NDArray[np.float32]) -> npt.NDArray[np.uint32]:
    """Frames x SHIFTS sub-fingerprints (steps 5-6); frames without full filter support are cut.

    Row t describes the audio around frame t + HALF_SPAN of ``bands``.
    """
    n = bands.shape[0] - 2 * HALF_SPAN
    if n <= 0:
        return np.zeros((0, SHIFTS), dtype=np.uint32)
    table = np.zeros((bands.shape[0] + 1, POSITIONS + 1), dtype=np.float64)
    table[1:, 1:] = np.cumsum(np.cumsum(bands, axis=0, dtype=np.float64), axis=1)
    t = np.arange(HALF_SPAN, HALF_SPAN + n)
    past, now, ahead = t - HALF_SPAN, t, t + HALF_SPAN

    def box(t0: npt.NDArray[np.int64], t1: npt.NDArray[np.int64], p0: int, p1: int) -> np.ndarray:
        return table[t1, p1] - table[t0, p1] - table[t1, p0] + table[t0, p0]  # type: ignore[no-any-return]

    words = np.zeros((n, SHIFTS), dtype=np.uint32)
    for s, shift in enumerate(range(-MAX_SHIFT, MAX_SHIFT + 1)):
        acc = np.zeros(n, dtype=np.uint32)
        lo = MAX_SHIFT + shift
        change = (box(now, ahead, lo, lo + SPAN) - box(past, now, lo, lo + SPAN)) / SPAN
        for bit, (kind, first, width) in enumerate(FILTERS):
            p0 = lo + first
            p1 = p0 + width
            if kind == "T":
                response = box(now, ahead, p0, p1) - box(past, now, p0, p1) - change * width
            else:
                mid = p0 + width // 2
                later = box(now, ahead, p0, mid) - box(now, ahead, mid, p1)
                earlier = box(past, now, p0, mid) - box(past, now, mid, p1)
                response = later - earlier
            acc |= (response > 0).astype(np.uint32) << np.uint32(bit)
        words[:, s] = acc
    return words


def fingerprint_words(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.uint32]:
    """Frames x SHIFTS sub-fingerprints of mono ``SAMPLE_RATE`` samples."""
    return words_from_bands(log_bands(samples))


def frame_seconds(frame: int | float) -> float:
    """Where (in seconds from the start) fingerprint row ``frame`` begins to describe audio."""
    return float(frame) / FRAMES_PER_SECOND

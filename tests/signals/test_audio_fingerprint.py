"""The ``tessera_audio`` signal: contract, value encoding, matching excerpts under transforms."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tessera.errors import InvalidSignal, MediaError
from tessera.index.audio import AudioIndex
from tessera.media.content import Content
from tessera.services.matching import Match
from tessera.signals._audio_features import POSITIONS, SHIFTS, remove_noise_floor
from tessera.signals.tessera_audio import TesseraAudioSignal, decode_value, encode_value
from tessera.testing.signal_contract import SignalTypeContract
from tests.media.audio_synth import RATE, TRANSFORMS, babble, encode, music


@cache
def reference() -> np.ndarray:
    return music(40.0, seed=11)


@cache
def fingerprint(samples_key: str) -> str:
    samples = {"ref": reference(), "babble": babble(12.0, seed=5), "other": music(12.0, seed=99)}[
        samples_key
    ]
    signal = TesseraAudioSignal.hash_content(Content.from_bytes(encode(samples)))
    assert signal is not None
    return signal.value


def _words(frames: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**32, (frames, SHIFTS), dtype=np.uint32)


class TestTesseraAudioContract(SignalTypeContract):
    signal_type = TesseraAudioSignal
    valid = [
        (" " + encode_value(_words(3, 1)) + "\n", encode_value(_words(3, 1))),
        (encode_value(_words(40, 2)), encode_value(_words(40, 2))),
        (encode_value(_words(1, 3)), encode_value(_words(1, 3))),
    ]
    invalid = [
        "",
        "2:10:",
        "AAAA",
        "1:10:" + base64.b64encode(bytes(36)).decode(),  # version 1: before the noise floor
        "3:10:" + base64.b64encode(bytes(36)).decode(),
        "2:8:" + base64.b64encode(bytes(36)).decode(),
        "2:10:" + base64.b64encode(bytes(35)).decode(),
        "2:10:" + base64.b64encode(bytes(72)).decode()[:-2],
        "2:10:" + base64.b64encode(bytes(36)).decode()[:-1] + "!",
        "2:10:" + base64.urlsafe_b64encode(b"\xff" * 36).decode(),
        "x:10:" + base64.b64encode(bytes(36)).decode(),
    ]


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint32, st.tuples(st.integers(1, 50), st.just(SHIFTS))))
def test_value_encoding_round_trips(words: np.ndarray) -> None:
    value = encode_value(words)
    assert np.array_equal(decode_value(value), words)
    assert TesseraAudioSignal.validate(value) == value


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_validate_refuses_or_accepts_any_text_without_crashing(text: str) -> None:
    try:
        normal = TesseraAudioSignal.validate(text)
    except InvalidSignal:
        return
    assert TesseraAudioSignal.validate(normal) == normal


def test_invalid_signals_say_why() -> None:
    with pytest.raises(InvalidSignal, match="36 bytes each"):
        decode_value("2:10:" + base64.b64encode(bytes(35)).decode())
    with pytest.raises(InvalidSignal, match="version 7"):
        decode_value("7:10:AAAA")


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_an_excerpt_matches_under_each_transform_with_its_offset(name: str) -> None:
    index = AudioIndex()
    index.add([(1, fingerprint("ref")), (2, fingerprint("babble")), (3, fingerprint("other"))])
    start = 17.3
    excerpt = reference()[int(start * RATE) : int((start + 10) * RATE)]
    query = TesseraAudioSignal.hash_content(Content.from_bytes(encode(TRANSFORMS[name](excerpt))))
    assert query is not None
    hits = index.query(query.value, TesseraAudioSignal.default_threshold)
    assert [h.id for h in hits] == [1]
    assert hits[0].detail is not None
    assert abs(hits[0].detail["offset_s"] - start) <= 0.3
    assert 9.0 <= hits[0].detail["duration_s"] <= 11.0


def test_unrelated_audio_does_not_match() -> None:
    index = AudioIndex()
    index.add([(1, fingerprint("ref"))])
    for other in ("babble", "other"):
        assert index.query(fingerprint(other), TesseraAudioSignal.default_threshold) == []
        assert TesseraAudioSignal.distance(fingerprint("ref"), fingerprint(other)) > (
            TesseraAudioSignal.max_threshold
        )


def test_distance_finds_an_excerpt_inside_the_whole() -> None:
    whole = fingerprint("ref")
    part = encode_value(decode_value(whole)[100:220])
    assert TesseraAudioSignal.distance(whole, part) == 0
    assert TesseraAudioSignal.distance(part, whole) == 0


def test_too_short_or_silent_audio() -> None:
    with pytest.raises(MediaError, match="at least 3 s"):
        TesseraAudioSignal.hash_content(Content.from_bytes(encode(music(2.0, seed=1))))
    silence = TesseraAudioSignal.hash_content(
        Content.from_bytes(encode(np.zeros(5 * RATE, np.float32)))
    )
    assert silence is not None
    index = AudioIndex()
    index.add([(1, silence.value)])
    assert index.query(silence.value, TesseraAudioSignal.max_threshold) == []


def test_match_json_shows_a_digest_of_long_values() -> None:
    value = fingerprint("ref")
    match = Match("b", "e", "tessera_audio", 3, 50, value, value, (), "active", "local")
    shown = match.as_json()
    assert (
        shown["query"] == shown["matched"] == "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    )
    assert shown["query_length"] == shown["matched_length"] == len(value) > 10_000
    short = Match("b", "e", "md5", 0, 0, "a" * 32, "a" * 32, (), "active", "local").as_json()
    assert short["query"] == "a" * 32 and "query_length" not in short


def test_steady_noise_is_taken_out_and_what_comes_and_goes_is_kept() -> None:
    energy = np.full((200, POSITIONS), 5.0, dtype=np.float32)  # a steady hiss in every band
    energy[100:105, 10:20] += 50.0  # a note of half a second
    out = remove_noise_floor(energy)
    assert np.all(out[:95] == 0) and np.all(out[110:] == 0)
    assert np.all(out[100:105, 10:20] >= 40.0)
    assert remove_noise_floor(np.zeros((0, POSITIONS), np.float32)).shape == (0, POSITIONS)

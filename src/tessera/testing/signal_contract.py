"""Conformance tests every signal type must pass (python-threatexchange's SignalTypeAutoTest idea).

Subclass ``SignalTypeContract`` in a test module, set ``signal_type`` and the example lists, and
pytest runs the whole contract against it:

    class TestMd5(SignalTypeContract):
        signal_type = Md5Signal
        valid = [("D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e")]
        invalid = ["", "xyz", "d41d8cd98f00b204e9800998ecf8427"]
        hashes = [(b"", ...)]  # (content bytes, expected normalised signal)
"""

from __future__ import annotations

import re
from typing import ClassVar

import pytest

from tessera.errors import InvalidSignal, MediaError
from tessera.media.content import Content
from tessera.media.kinds import MediaKind
from tessera.signals.base import SignalType
from tessera.signals.registry import get_signal_type


class SignalTypeContract:
    """The contract; subclasses provide the type and examples."""

    signal_type: ClassVar[type[SignalType]]
    valid: ClassVar[list[tuple[str, str]]]
    """(input, normalised) pairs."""
    invalid: ClassVar[list[str]]
    """Strings ``validate`` must refuse."""
    hashes: ClassVar[list[tuple[bytes, str]]] = []
    """(file bytes, expected signal value) pairs; the type must hash the bytes to that value."""

    def test_name_is_a_storage_key_and_registered(self) -> None:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", self.signal_type.name)
        assert get_signal_type(self.signal_type.name) is self.signal_type

    def test_thresholds_are_ordered(self) -> None:
        assert 0 <= self.signal_type.default_threshold <= self.signal_type.max_threshold

    def test_validate_normalises_idempotently(self) -> None:
        for raw, normal in self.valid:
            assert self.signal_type.validate(raw) == normal
            assert self.signal_type.validate(normal) == normal

    def test_validate_refuses_malformed(self) -> None:
        for raw in self.invalid:
            with pytest.raises(InvalidSignal):
                self.signal_type.validate(raw)

    def test_distance_is_zero_on_self_and_symmetric(self) -> None:
        values = [normal for _, normal in self.valid]
        for a in values:
            assert self.signal_type.distance(a, a) == 0
            for b in values:
                assert self.signal_type.distance(a, b) == self.signal_type.distance(b, a)

    def test_index_finds_each_value_at_distance_zero(self) -> None:
        index = self.signal_type.new_index()
        values = sorted({normal for _, normal in self.valid})
        index.add(enumerate(values))
        assert len(index) == len(values)
        for i, v in enumerate(values):
            hits = index.query(v, self.signal_type.default_threshold)
            assert (i, 0) in [(h.id, h.distance) for h in hits]

    def test_hashes_known_content(self) -> None:
        for data, expected in self.hashes:
            signal = self.signal_type.hash_content(Content.from_bytes(data))
            assert signal is not None and signal.type == self.signal_type.name
            assert signal.value == expected
            assert self.signal_type.validate(signal.value) == signal.value

    def test_ignores_or_refuses_other_kinds(self) -> None:
        for kind in MediaKind:
            if kind in self.signal_type.media_kinds:
                continue
            content = Content(data=b"\x00" * 64, kind=kind)
            try:
                assert self.signal_type.hash_content(content) is None
            except MediaError:
                pass

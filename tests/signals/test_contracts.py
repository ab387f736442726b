"""Every built-in signal type passes the signal type contract."""

from __future__ import annotations

import hashlib

from tessera.signals.exact import Md5Signal, Sha256Signal
from tessera.testing.signal_contract import SignalTypeContract


class TestMd5(SignalTypeContract):
    signal_type = Md5Signal
    valid = [
        ("D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
        (" 0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdef"),
    ]
    invalid = ["", "xyz", "d41d8cd98f00b204e9800998ecf8427", "g" * 32, "a" * 64]
    hashes = [(b"tessera", hashlib.md5(b"tessera").hexdigest())]


class TestSha256(SignalTypeContract):
    signal_type = Sha256Signal
    valid = [("AB" * 32, "ab" * 32), ("0" * 64, "0" * 64)]
    invalid = ["", "ab" * 31, "zz" * 32, "a" * 65]
    hashes = [(b"tessera", hashlib.sha256(b"tessera").hexdigest())]

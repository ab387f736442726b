"""Signal types: one hashing algorithm each, found through a registry."""

from tessera.signals.base import Signal, SignalType
from tessera.signals.registry import all_signal_types, get_signal_type, parse_signal

__all__ = ["Signal", "SignalType", "all_signal_types", "get_signal_type", "parse_signal"]

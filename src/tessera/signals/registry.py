"""The signal type registry, filled from the ``tessera.signals`` entry point group.

Built-in types are declared in Tessera's own ``pyproject.toml`` under that group, so they load the
same way a third party's plug-in does. ``register`` adds a type at run time (tests, embedding).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from tessera.errors import InvalidSignal, UnknownSignalType
from tessera.signals.base import Signal, SignalType

_extra: dict[str, type[SignalType]] = {}


@cache
def _from_entry_points() -> dict[str, type[SignalType]]:
    found: dict[str, type[SignalType]] = {}
    for ep in entry_points(group="tessera.signals"):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, SignalType)):
            raise TypeError(f"entry point {ep.name!r} is not a SignalType: {cls!r}")
        if cls.name != ep.name:
            raise TypeError(f"entry point {ep.name!r} names a type called {cls.name!r}")
        found[cls.name] = cls
    return found


def register(signal_type: type[SignalType]) -> None:
    """Add a signal type at run time (the entry point is the usual way)."""
    _extra[signal_type.name] = signal_type


def all_signal_types() -> dict[str, type[SignalType]]:
    """Every registered signal type by name, in a stable order."""
    merged = {**_from_entry_points(), **_extra}
    return dict(sorted(merged.items()))


def get_signal_type(name: str) -> type[SignalType]:
    """The signal type called ``name``; UnknownSignalType lists the known ones otherwise."""
    types = all_signal_types()
    try:
        return types[name.strip().lower()]
    except KeyError:
        known = ", ".join(types)
        raise UnknownSignalType(f"unknown signal type {name!r} (known: {known})") from None


def parse_signal(text: str) -> Signal:
    """Parse ``TYPE:VALUE`` (as the CLI's ``--signal`` takes it) into a validated Signal."""
    type_name, sep, value = text.partition(":")
    if not sep or not type_name or not value:
        raise InvalidSignal(f"expected TYPE:VALUE, got {text!r}")
    signal_type = get_signal_type(type_name)
    return Signal(signal_type.name, signal_type.validate(value))

"""Contract tests that ship with Tessera, for its own types and for plug-ins.

Subclass a contract in a ``Test...`` class and pytest runs it: ``IndexContract`` for a
``SignalIndex``, ``SignalTypeContract`` for a ``SignalType``. Both need pytest and Hypothesis
(the ``test`` extra).
"""

from tessera.testing.index_contract import IndexContract
from tessera.testing.signal_contract import SignalTypeContract

__all__ = ["IndexContract", "SignalTypeContract"]

"""Exchange: how banks travel between nodes and tools.

``formats`` reads and writes bank files (Tessera's own JSON Lines and CSV, python-threatexchange's
signal files, HMA's bank content JSON); the change-log sync protocol and connectors live beside it.
"""

"""Tessera: a self-hostable node of a hash-sharing exchange for known terrorist media."""

__version__ = "0.1.0"

"""Use cases the adapters (CLI now, HTTP API later) call: hashing, banks, matching."""

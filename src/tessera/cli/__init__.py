"""The `tessera` command (Typer + Rich)."""

"""`python -m tessera.cli` runs the `tessera` command."""

from tessera.cli.main import app

app()

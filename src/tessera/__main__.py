"""`python -m tessera` runs the `tessera` command."""

from tessera.cli.main import app

app()

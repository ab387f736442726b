"""What every command shares: settings, the store (opened lazily), consoles, error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, ParamSpec, TypeVar

import sqlalchemy.exc
import typer
from rich.console import Console

from tessera.errors import StoreError, TesseraError
from tessera.settings import Settings, load_settings
from tessera.store import Store, open_store

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="TESSERA_DATABASE_URL",
        help="Store URL (sqlite:///file.db or postgresql+psycopg://...). "
        "Default: SQLite in the data folder.",
        show_envvar=True,
    ),
]


@dataclass
class AppState:
    """Per-invocation state: settings and a lazily opened store."""

    db_url: str | None = None
    _store: Store | None = field(default=None, repr=False)

    def reset(self, db_url: str | None) -> None:
        """Start a new invocation (the CLI may be invoked many times in one process by tests)."""
        if self._store is not None:
            self._store.db.dispose()
        self.db_url, self._store = db_url, None

    def settings(self, db_url: str | None = None) -> Settings:
        """Settings with the command's --db (or the global one) applied."""
        return load_settings(database_url=db_url or self.db_url)

    def store(self, db_url: str | None = None) -> Store:
        """Open the store once per invocation."""
        if self._store is None:
            settings = self.settings(db_url)
            try:
                self._store = open_store(settings)
            except sqlalchemy.exc.SQLAlchemyError as e:
                reason = str(e.orig if isinstance(e, sqlalchemy.exc.DBAPIError) else e)
                raise StoreError(
                    f"cannot open store {settings.resolved_database_url()}: "
                    f"{reason.strip().splitlines()[0] if reason.strip() else type(e).__name__}"
                ) from None
        return self._store


STATE = AppState()

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear error line and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn Tessera's errors into one clear line on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TesseraError as e:
            raise fail(str(e)) from None
        except sqlalchemy.exc.SQLAlchemyError as e:
            raise fail(f"database error: {str(e).splitlines()[0]}") from None
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(130)

    return wrapper

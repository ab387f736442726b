"""Settings: one pydantic-settings class, from the environment (``TESSERA_*``) and a TOML file.

Precedence, highest first: explicit arguments (the CLI's ``--db``), environment variables, the TOML
file named by ``TESSERA_CONFIG`` (default ``./tessera.toml`` when present), then the defaults here.
Every field has a description; the README's configuration table is checked against this class.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tessera.media.content import MediaLimits


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tessera"


class Settings(BaseSettings):
    """Everything an operator can configure."""

    model_config = SettingsConfigDict(env_prefix="TESSERA_", extra="forbid")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the embedded SQLite database and index snapshots.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the store: `sqlite:///path.db` or "
            "`postgresql+psycopg://user@host/db`. Default: SQLite in data_dir."
        ),
    )
    auto_migrate: bool = Field(
        default=True,
        description="Apply pending schema migrations when the store is opened.",
    )
    node_org: str = Field(
        default="local",
        min_length=1,
        max_length=200,
        description="Name of the organisation running this node; recorded as entries' created_by.",
    )
    max_file_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description="Largest file Tessera reads for hashing, in bytes.",
    )
    max_image_pixels: int = Field(
        default=100_000_000,
        gt=0,
        description="Largest image (width x height) Tessera decodes; guards decompression bombs.",
    )
    min_quality: int = Field(
        default=50,
        ge=0,
        le=100,
        description=(
            "Signals with a quality score below this (PDQ of flat or tiny images) are neither "
            "added to banks nor used to match: they would match unrelated content."
        ),
    )
    sqlite_busy_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a SQLite writer waits for the write lock before failing.",
    )
    follow_interval_s: float = Field(
        default=0.2,
        gt=0,
        description="How often a matcher polls the change log to keep its index current.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del dotenv_settings, file_secret_settings
        toml_path = Path(os.environ.get("TESSERA_CONFIG", "tessera.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'tessera.db'}"

    def media_limits(self) -> MediaLimits:
        """The decoding limits as the media layer takes them."""
        return MediaLimits(
            max_file_bytes=self.max_file_bytes, max_image_pixels=self.max_image_pixels
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and TOML file, with explicit overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

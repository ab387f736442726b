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
    max_media_seconds: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="Longest video or audio Tessera decodes, in seconds of media.",
    )
    max_video_pixels: int = Field(
        default=8192 * 4320,
        gt=0,
        description="Largest video frame (width x height) Tessera decodes.",
    )
    max_decode_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Wall-clock limit on decoding one video or audio file; a file that takes longer "
            "(hostile or endless streams) fails with an error instead of hanging."
        ),
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
    video_frames_per_second: float = Field(
        default=30.0,
        gt=0,
        le=60,
        description=(
            "How many frames a second of video are hashed (vpdq); Meta's vPDQ hashes 1. Dense "
            "hashing finds trimmed and re-timed copies that 1 a second misses; in fast camera "
            "motion frames 1/30 s apart differ by more than 31 bits, so 30 (every frame of "
            "most video) finds copies trimmed at any frame."
        ),
    )
    vpdq_dedupe_bits: int = Field(
        default=8,
        ge=0,
        le=31,
        description=(
            "A video frame whose PDQ hash is within this many bits of the last kept frame's is "
            "not kept (still scenes do not flood the frame list)."
        ),
    )
    vpdq_frame_threshold: int = Field(
        default=31,
        ge=0,
        le=64,
        description=(
            "Two video frames match when their PDQ hashes are at most this many bits apart."
        ),
    )
    vpdq_quality_floor: int = Field(
        default=50,
        ge=0,
        le=100,
        description="Video frames whose PDQ quality is below this are ignored when matching.",
    )
    vpdq_min_query_pct: int = Field(
        default=0,
        ge=0,
        le=100,
        description=(
            "A video matches only when at least this share of the query's frames match (80 is "
            "python-threatexchange's rule; the bank threshold already asks 80 of either side)."
        ),
    )
    vpdq_min_compared_pct: int = Field(
        default=0,
        ge=0,
        le=100,
        description=(
            "A video matches only when at least this share of the reference's frames match."
        ),
    )
    vpdq_min_span_pct: int = Field(
        default=0,
        ge=0,
        le=100,
        description=(
            "A video matches only when the matched segment (first to last frame at the videos' "
            "alignment) spans at least this share of both videos: 95 asks for whole copies, so "
            "trimmed excerpts and longer videos that hold the reference do not match."
        ),
    )
    vpdq_query_gap: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description=(
            "Videos hashed to be looked up (match, review submit, scan) are first hashed "
            "sparsely, every this many seconds at most (keyframes and reference frames up to "
            "points between them), and screened against the video index; only a video the "
            "screen flags is hashed densely and matched. 0: hash queries densely, no screen."
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
    host: str = Field(
        default="127.0.0.1",
        description="Address `tessera serve` listens on (`0.0.0.0` for every interface).",
    )
    port: int = Field(
        default=8000, ge=0, le=65535, description="TCP port `tessera serve` listens on."
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "Processes `tessera serve` runs on the port; each holds its own copy of the match "
            "index (memory x workers), and one of them runs the background jobs."
        ),
    )
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description=(
            "Largest request body the HTTP API accepts, in bytes (uploads included); larger "
            "requests are refused with 413 before they are read."
        ),
    )
    max_batch_signals: int = Field(
        default=1000,
        gt=0,
        description="Most signals one batch match request or one entry may carry.",
    )
    token_cache_s: float = Field(
        default=2.0,
        ge=0,
        description=(
            "How long the API caches a token's organisation, tier and scopes. A revoked token "
            "stops working at once in the process that revoked it and, on SQLite, in every "
            "process (any commit to the store empties the cache); on PostgreSQL other processes "
            "refuse it within this time."
        ),
    )
    fetch_urls_enabled: bool = Field(
        default=False,
        description=(
            "Allow hashing media by URL (the node fetches it). Off by default; when on, only "
            "http/https to public addresses (or fetch_allow_cidrs) are fetched."
        ),
    )
    fetch_allow_cidrs: list[str] = Field(
        default_factory=list,
        description=(
            "Address ranges (CIDRs, e.g. `10.1.2.0/24`) a URL fetch may reach although they are "
            "loopback, private, link-local or otherwise internal."
        ),
    )
    fetch_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest body a URL fetch downloads, in bytes (max_file_bytes also applies).",
    )
    fetch_max_redirects: int = Field(
        default=5,
        ge=0,
        le=20,
        description="How many redirects a URL fetch follows; each hop is checked again.",
    )
    fetch_connect_timeout_s: float = Field(
        default=5.0, gt=0, description="Time limit on connecting to a URL's server."
    )
    fetch_read_timeout_s: float = Field(
        default=10.0, gt=0, description="Time limit on each read while downloading a URL."
    )
    fetch_total_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Wall-clock limit on a whole URL fetch, redirects and download included.",
    )
    fetch_content_types: list[str] = Field(
        default_factory=lambda: ["image/*", "video/*", "audio/*", "application/octet-stream"],
        description="Media types a fetched URL may have (`type/*` matches a whole type).",
    )

    changes_page_max: int = Field(
        default=20_000,
        gt=0,
        le=100_000,
        description="Most changes one page of the change feed (`GET /v1/changes`) carries.",
    )
    sync_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="How often `tessera serve` pulls from every peer, in seconds (0: never).",
    )
    sync_page_size: int = Field(
        default=20_000,
        gt=0,
        le=100_000,
        description="How many changes this node asks a peer for per page when it syncs.",
    )
    sync_max_page_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest page of changes accepted from a peer, in bytes; larger is an error.",
    )
    sync_connect_timeout_s: float = Field(
        default=5.0, gt=0, description="Time limit on connecting to a peer."
    )
    sync_read_timeout_s: float = Field(
        default=30.0, gt=0, description="Time limit on each read from a peer."
    )
    sync_page_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description=(
            "Wall-clock limit on fetching one page from a peer: a peer that drips bytes slowly "
            "fails with an error instead of stalling the node."
        ),
    )

    review_deadline_s: float = Field(
        default=24 * 3600,
        gt=0,
        description="How long a new review case may wait for a decision, in seconds.",
    )
    review_retention_days: float = Field(
        default=30,
        gt=0,
        description=(
            "Days content kept for review (a case's preview) is kept; then it is deleted. "
            "Only the organisation that submitted it can see it meanwhile."
        ),
    )
    removal_order_deadline_s: float = Field(
        default=3600,
        gt=0,
        description="Time to act on a removal order from its receipt (TCO Art. 3(3): one hour).",
    )
    order_watch_interval_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How often `tessera serve` checks removal orders for ones past their deadline (each "
            "is audited and sent to the organisation's webhook once), in seconds (0: never)."
        ),
    )
    complaint_deadline_days: float = Field(
        default=14,
        gt=0,
        description="Time to answer an uploader's complaint, in days (TCO Art. 10: two weeks).",
    )
    webhook_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Limit on each phase of one webhook delivery (connect, send, each read), in seconds."
        ),
    )
    webhook_allow_cidrs: list[str] = Field(
        default_factory=list,
        description=(
            "Address ranges (CIDRs, a JSON list in the environment) webhook endpoints may use "
            "although they are internal (loopback, private, link-local); others must be public."
        ),
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Deliveries tried before an action goes to the dead-letter list.",
    )
    webhook_backoff_s: float = Field(
        default=2.0,
        gt=0,
        description="Wait before the first retry; each retry doubles it (with jitter).",
    )
    webhook_backoff_max_s: float = Field(
        default=600.0,
        gt=0,
        description="Longest wait between two delivery attempts, in seconds.",
    )
    webhook_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="How often `tessera serve` delivers due webhook actions (s; 0: never).",
    )
    incident_sync_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="How often peers pull while an incident is active, in seconds.",
    )
    retro_hunt_interval_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How often `tessera serve` matches the signals organisations kept of scanned content "
            "against new bank entries (retro-hunt), in seconds (0: never)."
        ),
    )
    kept_signal_days: float = Field(
        default=180,
        ge=0,
        description=(
            "Days the signals kept of scanned content (`scan --keep-signals`) stay for retro-hunt; "
            "then `tessera serve` deletes them (0: until `tessera kept forget`)."
        ),
    )
    audit_token_flush_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Token uses are written to the audit log as one record per token per this many "
            "seconds, with the count and the routes used."
        ),
    )
    web_session_s: float = Field(
        default=8 * 3600,
        gt=0,
        description="How long a sign-in to the review pages lasts, in seconds.",
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
            max_file_bytes=self.max_file_bytes,
            max_image_pixels=self.max_image_pixels,
            max_media_seconds=self.max_media_seconds,
            max_video_pixels=self.max_video_pixels,
            max_decode_seconds=self.max_decode_seconds,
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and TOML file, with explicit overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

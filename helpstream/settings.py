"""All of helpstream's configuration, read once from `HELPSTREAM_*` environment variables.

CLI flags override the environment by passing keyword arguments to `Settings(...)`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Validated settings shared by the API, the workers and the CLI."""

    model_config = SettingsConfigDict(env_prefix="HELPSTREAM_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN. Unset: `helpstream up` starts an embedded PostgreSQL.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (any node of a cluster). Unset: `up` starts an embedded Redis.",
    )
    redis_cluster: bool = Field(
        default=False,
        description="Use Redis Cluster mode. Also used, without this flag, when the server "
        "reports cluster mode (`INFO cluster`: cluster_enabled:1).",
    )
    data_dir: Path = Field(
        default=Path(".helpstream"), description="Where embedded servers keep their data."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    path_timeout: int = Field(
        default=1800, ge=1, description="Seconds of inactivity that end a path as abandoned."
    )
    allowed_lateness: int = Field(
        default=300,
        ge=0,
        description="Seconds of event time an event may trail its customer's newest click.",
    )
    partitions: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="Number of partition streams; must not change once data exists. "
        "At most this many workers share the load (README: Scaling).",
    )

    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=10_000, ge=1, le=100_000)
    max_backlog: int = Field(
        default=200_000,
        ge=1,
        description="Unapplied stream entries per partition above which ingest answers 503.",
    )
    retry_after_seconds: int = Field(default=2, ge=1)

    worker_batch_entries: int = Field(
        default=200, ge=1, description="Stream entries a worker applies in one transaction."
    )
    worker_block_ms: int = Field(default=200, ge=1)
    worker_sweep_seconds: float = Field(
        default=5.0, gt=0, description="How often idle open paths are checked (wall clock)."
    )
    lease_refresh_seconds: float = Field(default=2.0, gt=0)
    worker_heartbeat_timeout: float = Field(default=10.0, gt=0)
    max_deliveries: int = Field(
        default=5, ge=1, description="Deliveries of a stream entry before it is dead-lettered."
    )
    retain_clicks_days: int = Field(
        default=30,
        ge=0,
        description="Raw clicks older than this (event time) are deleted; 0: kept.",
    )
    retain_paths_days: int = Field(
        default=30,
        ge=0,
        description="Completed paths older than this are deleted; 0: kept. Metric windows "
        "read their edge seconds from paths, so keep paths at least as long as minute rollups.",
    )
    retain_minute_rollups_days: int = Field(
        default=7,
        ge=0,
        description="Minute rollups older than this are compacted into hour rollups; 0: never.",
    )
    retain_rollups_days: int = Field(
        default=365, ge=0, description="Hour rollups older than this are deleted; 0: kept."
    )
    retention_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often the worker owning partition 0 runs retention."
    )
    retention_batch_rows: int = Field(
        default=5000, ge=1, description="Rows per retention batch (one short transaction each)."
    )
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    startup_wait_seconds: float = Field(
        default=120.0,
        ge=0,
        description="How long a starting API or worker retries PostgreSQL and Redis that do "
        "not accept connections yet (containers start in any order) before it gives up.",
    )

    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long an API process trusts what it knows about a key: revocations "
        "take effect everywhere within this time.",
    )
    rate_limit_ingest: int = Field(
        default=20_000,
        ge=0,
        description="Requests per second per key on ingest routes (0: none). High, so one "
        "busy web server's key never throttles single-event ingest.",
    )
    rate_limit_read: int = Field(
        default=200, ge=0, description="Requests per second per key on read routes (0: none)."
    )
    rate_limit_admin: int = Field(
        default=50, ge=0, description="Requests per second per key on admin routes (0: none)."
    )
    stream_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often `GET /v1/metrics/stream` re-reads the metrics it sends.",
    )
    stream_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=15,
        description="Longest silence on `GET /v1/metrics/stream` before a keepalive comment.",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed to call the API from browsers; "
        "empty (the default): CORS off.",
    )

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty variable (`HELPSTREAM_REDIS_URL=`) means "not configured"."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _paths_outlive_minute_rollups(self) -> Settings:
        """Windows read their edge seconds from paths: paths must cover the minute range."""
        paths, minutes = self.retain_paths_days, self.retain_minute_rollups_days
        if paths and (minutes == 0 or paths < minutes):
            raise ValueError(
                f"HELPSTREAM_RETAIN_PATHS_DAYS ({paths}) must be 0 or at least "
                f"HELPSTREAM_RETAIN_MINUTE_ROLLUPS_DAYS ({minutes or 'never compacted'}): "
                "metric windows read their edge seconds from paths"
            )
        return self

    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    def require_urls(self) -> tuple[str, str]:
        """Both server URLs, or a clear error for processes that cannot start servers."""
        if not self.database_url or not self.redis_url:
            raise ValueError(
                "HELPSTREAM_DATABASE_URL and HELPSTREAM_REDIS_URL must be set "
                "(or use `helpstream up`, which starts embedded servers)"
            )
        return self.database_url, self.redis_url

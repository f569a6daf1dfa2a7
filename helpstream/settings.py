"""All of helpstream's configuration, read once from `HELPSTREAM_*` environment variables.

CLI flags override the environment by passing keyword arguments to `Settings(...)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from helpstream.constants import DEFAULT_MAX_FUTURE_SKEW


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
    host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")

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
    max_future_skew: int = Field(
        default=DEFAULT_MAX_FUTURE_SKEW,
        ge=0,
        description="Seconds an event's timestamp may be ahead of the server's clock; later "
        "ones are rejected (422), and workers never let event time run further ahead.",
    )

    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body (413 above)."
    )
    max_batch_events: int = Field(
        default=10_000, ge=1, le=100_000, description="Most events in one batch POST."
    )
    max_backlog: int = Field(
        default=200_000,
        ge=1,
        description="Deprecated (an entry holds 1 to 10,000 events, so entries do not bound "
        "memory): unapplied entries in one partition stream above which ingest of that "
        "stream's kind answers 503. Use max_backlog_click_bytes / max_backlog_support_bytes.",
    )
    max_backlog_click_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Memory (bytes, all partitions) the unapplied click events may take in "
        "Redis; past it click ingest answers 503 + Retry-After until workers catch up.",
    )
    max_backlog_support_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="The same bound for help-desk events, separate so that one kind's "
        "backlog never refuses the other kind.",
    )
    retry_after_seconds: int = Field(
        default=2, ge=1, description="`Retry-After` of a 503 when the buffer is full or away."
    )

    worker_batch_entries: int = Field(
        default=10_000,
        ge=1,
        description="Most stream entries a worker reads from one partition at a time.",
    )
    worker_batch_events: int = Field(
        default=20_000,
        ge=1,
        description="Most events a worker applies in one transaction (an entry holding more "
        "is applied alone). Larger transactions catch up a backlog faster: fewer statements "
        "and fewer path rewrites per event.",
    )
    worker_block_ms: int = Field(
        default=200, ge=1, description="How long a worker waits on an idle stream (ms)."
    )
    worker_linger_ms: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description="Once a partition has caught up, its next read waits until this long "
        "(ms) after the previous one began, so that a steady trickle of events is applied "
        "in fewer, larger transactions (each costs about a dozen statements). Adds up to "
        "this much to the time before an event shows; 0 reads again at once.",
    )
    worker_sweep_seconds: float = Field(
        default=5.0, gt=0, description="How often idle open paths are checked (wall clock)."
    )
    lease_refresh_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often a worker heartbeats and rebalances partitions; a killed "
        "worker's partitions are taken over within about this.",
    )
    worker_heartbeat_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Rows of the `workers` table (for operators) older than this are removed. "
        "Liveness itself is the worker's lock connection: a killed worker's partitions are "
        "taken over at the next lease refresh.",
    )
    max_deliveries: int = Field(
        default=5, ge=1, description="Deliveries of a stream entry before it is dead-lettered."
    )
    db_pool_min: int = Field(default=2, ge=1, description="PostgreSQL connections kept open.")
    db_pool_max: int = Field(default=10, ge=1, description="Most PostgreSQL connections.")
    db_command_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a PostgreSQL statement may take before the client cancels it "
        "(the worker then retries the batch): a blackholed connection cannot hang anything.",
    )
    db_connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to establish a PostgreSQL connection."
    )
    db_keepalive_idle: int = Field(
        default=10,
        ge=1,
        description="Server-side TCP keepalive: idle seconds before the first probe. With the "
        "two below, PostgreSQL drops a vanished client (and its partition locks) in ~25 s.",
    )
    db_keepalive_interval: int = Field(
        default=5, ge=1, description="Server-side TCP keepalive: seconds between probes."
    )
    db_keepalive_count: int = Field(
        default=3, ge=1, description="Server-side TCP keepalive: unanswered probes before drop."
    )
    worker_lock_command_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Statement timeout on a worker's lock connection: when it expires the "
        "worker lets go of its partitions and reconnects.",
    )
    redis_socket_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a Redis command may wait for its reply (must exceed "
        "worker_block_ms): a blackholed Redis connection raises instead of hanging.",
    )
    redis_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to establish a Redis connection."
    )
    redis_health_check_interval: float = Field(
        default=15.0,
        ge=0,
        description="A Redis connection idle this long is PINGed before it is used again.",
    )
    max_dead_letters: int = Field(
        default=10_000,
        ge=1,
        description="Entries kept per dead-letter stream (partition and kind); the oldest "
        "are trimmed beyond it. Every dead letter is counted in /metrics either way.",
    )
    # Retention is opt-in (0: keep forever): ages are measured against the wall clock, so a
    # default would delete backfilled or historic data (the demo, imports) minutes after it
    # arrived, and compacted rollups make old windows exact only to the hour. The README
    # gives production values (30 / 30 / 7 / 365).
    retain_clicks_days: int = Field(
        default=0,
        ge=0,
        description="Raw clicks older than this (event time) are deleted; 0 (default): kept.",
    )
    retain_paths_days: int = Field(
        default=0,
        ge=0,
        description="Completed paths older than this are deleted; 0 (default): kept. Metric "
        "windows read their edge seconds from paths, so keep paths at least as long as minute "
        "rollups.",
    )
    retain_minute_rollups_days: int = Field(
        default=0,
        ge=0,
        description="Minute rollups older than this are compacted into hour rollups; "
        "0 (default): never.",
    )
    retain_rollups_days: int = Field(
        default=0, ge=0, description="Hour rollups older than this are deleted; 0 (default): kept."
    )
    retention_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often the worker owning partition 0 runs retention."
    )
    retention_batch_rows: int = Field(
        default=5000, ge=1, description="Rows per retention batch (one short transaction each)."
    )
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

    @model_validator(mode="after")
    def _redis_reply_outlasts_a_blocking_read(self) -> Settings:
        if self.redis_socket_timeout <= self.worker_block_ms / 1000:
            raise ValueError("redis_socket_timeout must be longer than worker_block_ms")
        return self

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Log level of helpstream and uvicorn (any case)."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="`text` (one line per record) or `json` (one object per line)."
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        """`info`, `Debug`, `JSON`: the case of a log setting does not matter."""
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    experiment_min_paths: int = Field(
        default=100,
        ge=2,
        description="Paths per variant (completed for the resolution rate, resolved for "
        "the path length) below which `GET /v1/experiments/compare` says `not enough data`: "
        "under ~100 the normal approximations behind the tests are unreliable and early "
        "differences are mostly noise.",
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

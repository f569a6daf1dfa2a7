"""API keys (contract §2): generation, hashing and storage, usable without FastAPI.

Keys look like `hs_<prefix>_<secret>`: 256-bit random secrets, shown once. PostgreSQL keeps
only their SHA-256 and the random `prefix`, which finds the row without comparing against
every hash. The command line (`helpstream keys`) and the admin routes both use this module.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

KEY_PATTERN = re.compile(r"hs_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def generate_key() -> tuple[str, str]:
    """A new key and its lookup prefix: `hs_` + 48 random bits + `_` + 256 random bits."""
    prefix = secrets.token_hex(6)
    return prefix, f"hs_{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyOut(BaseModel):
    """An API key as listed: never the secret, which only its creator ever sees."""

    id: int
    name: str
    scope: Scope
    prefix: str = Field(description="The public part of the key (`hs_<prefix>_...`).")
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="Approximate: recorded at most once per key cache period."
    )
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The API key. Shown only in this response: store it now.")


_KEY_COLUMNS = "id, name, scope, prefix, created_at, last_used_at, revoked_at"


async def create_key(db: Any, scope: Scope, name: str = "") -> KeyCreated:
    """Store a new key (`db`: an asyncpg pool or connection); returns it with its secret."""
    prefix, key = generate_key()
    row = await db.fetchrow(
        f"INSERT INTO api_keys (name, scope, prefix, key_hash) VALUES ($1, $2, $3, $4)"
        f" RETURNING {_KEY_COLUMNS}",
        name,
        scope,
        prefix,
        hash_key(key),
    )
    return KeyCreated(**dict(row), key=key)


async def list_keys(db: Any) -> list[KeyOut]:
    rows = await db.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")
    return [KeyOut(**dict(r)) for r in rows]


async def revoke_key(db: Any, key_id: int) -> KeyOut | None:
    """Revoke a key (idempotent: the first revocation time is kept); None if unknown."""
    if not 1 <= key_id <= 2**63 - 1:
        return None
    row = await db.fetchrow(
        f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
        f" RETURNING {_KEY_COLUMNS}",
        key_id,
    )
    return KeyOut(**dict(row)) if row is not None else None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An active key as the request path sees it."""

    id: int
    scope: Scope
    prefix: str
    key_hash: bytes

    def allows(self, scope: Scope) -> bool:
        return self.scope == scope or self.scope == "admin"


async def fetch_active_key(db: Any, prefix: str) -> ApiKey | None:
    """The unrevoked key with this prefix, if any."""
    row = await db.fetchrow(
        "SELECT id, scope, prefix, key_hash FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
        prefix,
    )
    if row is None:
        return None
    return ApiKey(row["id"], row["scope"], row["prefix"], bytes(row["key_hash"]))


async def record_last_used(db: Any, used: dict[int, float]) -> None:
    """Store when keys were last used (key id -> unix time); never moves a time back."""
    await db.execute(
        "UPDATE api_keys AS k SET last_used_at = u.t"
        " FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, t)"
        " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.t)",
        list(used),
        [datetime.fromtimestamp(t, UTC) for t in used.values()],
    )

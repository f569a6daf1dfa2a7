"""Dead letters: stream entries a worker could not apply, kept for an operator.

Each stream kind of each partition has its own dead-letter stream (`dead_letter_key`).
A dead letter is written under the ID of the entry it holds, by one Lua script that also
counts it: a worker that dead-letters the same entry again (after a crash, or a stale
owner racing the new one) gets "ID not greater" and changes nothing, so there are no
duplicates and no double counts. The record's own fields (``reason``, ``stream``, ...)
cannot be overwritten by the entry's fields, which are kept under an ``entry.`` prefix.
The streams are capped (``MAXLEN``, setting ``max_dead_letters``).

`replay` moves a dead letter back to the end of its stream in one script (no copy is
left behind, none lost); `drop` deletes it. Both are what `helpstream dlq` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

from helpstream.streams import (
    KINDS,
    RedisClient,
    connect_redis,
    dead_letter_key,
    stats_key,
    stream_key,
)

ENTRY_PREFIX = b"entry."

_WRITE = """
local args = {'XADD', KEYS[1], 'MAXLEN', ARGV[2], ARGV[1]}
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
local added = redis.pcall(unpack(args))
if type(added) == 'table' and added.err then
  if string.find(added.err, 'equal or smaller', 1, true) then return 0 end
  return redis.error_reply(added.err)
end
redis.call('HINCRBY', KEYS[2], 'dead_letters', 1)
return 1
"""

_REPLAY = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields, prefix, args = found[1][2], ARGV[2], {'XADD', KEYS[2], '*'}
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #prefix) == prefix then
    args[#args + 1] = string.sub(fields[i], #prefix + 1)
    args[#args + 1] = fields[i + 1]
  end
end
if #args == 3 then return redis.error_reply('dead letter holds no entry fields') end
local new_id = redis.call(unpack(args))
redis.call('XDEL', KEYS[1], ARGV[1])
return new_id
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    kind: str
    entry_id: str
    reason: str
    deliveries: int
    dead_at_ms: int
    fields: dict[bytes, bytes]

    @property
    def ref(self) -> str:
        """How `helpstream dlq` names it: ``partition:kind:entry_id``."""
        return f"{self.partition}:{self.kind}:{self.entry_id}"


def parse_ref(ref: str) -> tuple[int, str, str]:
    """``3:clicks:1700000000000-0`` -> (3, "clicks", "1700000000000-0"); ValueError if not."""
    partition, kind, entry_id = ref.split(":")
    if kind not in KINDS:
        raise ValueError(f"unknown stream kind {kind!r} (one of {', '.join(KINDS)})")
    return int(partition), kind, entry_id


async def write(
    redis: RedisClient,
    partition: int,
    kind: str,
    entry: tuple[bytes, dict[bytes, bytes] | None],
    reason: str,
    deliveries: int,
    max_entries: int,
) -> bool:
    """Dead-letter one entry; False when it already was (nothing written, nothing counted)."""
    entry_id, fields = entry
    args: list[bytes | str | int] = [entry_id, max_entries]
    for name, value in (
        (b"reason", reason.encode()),
        (b"stream", kind.encode()),
        (b"entry_id", entry_id),
        (b"deliveries", str(deliveries).encode()),
        (b"dead_at_ms", str(int(time.time() * 1000)).encode()),
    ):
        args += [name, value]
    for name, value in (fields or {}).items():
        args += [ENTRY_PREFIX + name, value]
    keys = [dead_letter_key(partition, kind), stats_key(partition)]
    added = await redis.eval(_WRITE, 2, *keys, *args)
    return bool(added)


async def list_letters(
    redis: RedisClient,
    partitions: int,
    kind: str | None = None,
    partition: int | None = None,
    count: int | None = 100,
) -> list[DeadLetter]:
    """The oldest ``count`` (None: all) dead letters of each selected stream, by partition."""
    letters: list[DeadLetter] = []
    for p in range(partitions) if partition is None else [partition]:
        for k in KINDS if kind is None else [kind]:
            found: list[Any] = await redis.xrange(dead_letter_key(p, k), count=count) or []
            letters.extend(_letter(p, k, entry_id, fields) for entry_id, fields in found)
    return letters


def _letter(partition: int, kind: str, entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    prefix = len(ENTRY_PREFIX)
    return DeadLetter(
        partition=partition,
        kind=kind,
        entry_id=entry_id.decode(),
        reason=fields.get(b"reason", b"").decode(errors="replace"),
        deliveries=int(fields.get(b"deliveries", b"0")),
        dead_at_ms=int(fields.get(b"dead_at_ms", b"0")),
        fields={k[prefix:]: v for k, v in fields.items() if k.startswith(ENTRY_PREFIX)},
    )


async def replay(redis: RedisClient, partition: int, kind: str, entry_id: str) -> str | None:
    """Send a dead letter back to its stream (as a new entry); its new ID, None if absent.

    Run it once the cause is fixed: the entry is applied like any other and de-duplicated
    by event key, and it is dead-lettered again (under its new ID) if it still fails.
    """
    keys = [dead_letter_key(partition, kind), stream_key(partition, kind)]
    new_id = await redis.eval(_REPLAY, 2, *keys, entry_id, ENTRY_PREFIX)
    if new_id is None:
        return None
    return new_id.decode() if isinstance(new_id, bytes) else str(new_id)


async def drop(redis: RedisClient, partition: int, kind: str, entry_id: str) -> bool:
    """Delete a dead letter for good; False if there was none with that ID."""
    return bool(await redis.xdel(dead_letter_key(partition, kind), entry_id))


def add_cli_parser(sub: Any) -> argparse.ArgumentParser:
    """`helpstream dlq list|replay|drop` (wired into the CLI by `api.cli`)."""
    dlq: argparse.ArgumentParser = sub.add_parser(
        "dlq", help="list, replay or drop dead-lettered stream entries"
    )
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="one line per dead letter: ref, deliveries, reason")
    listing.add_argument(
        "--kind",
        choices=KINDS,
        help="only this stream kind (default: both; no environment variable)",
    )
    listing.add_argument(
        "--partition", type=int, help="only this partition (default: all; no environment variable)"
    )
    listing.add_argument(
        "--count", type=int, default=100, help="per stream (default: 100; no environment variable)"
    )
    for name, text in (("replay", "send back to its stream, once fixed"), ("drop", "delete")):
        action = dlq_sub.add_parser(name, help=f"{text}: refs as printed by list, or --all")
        action.add_argument("refs", nargs="*", metavar="REF", help="partition:kind:entry_id")
        action.add_argument(
            "--all",
            action="store_true",
            help="every dead letter (default: off; no environment variable)",
        )
    return dlq


def run_cli(args: argparse.Namespace, redis_url: str | None, cluster: bool, partitions: int) -> int:
    """Run a `dlq` subcommand against the configured Redis; the exit code."""
    if not redis_url:
        print(
            "helpstream dlq: set HELPSTREAM_REDIS_URL (the Redis the workers use)", file=sys.stderr
        )
        return 2
    return asyncio.run(_run(args, redis_url, cluster, partitions))


async def _run(args: argparse.Namespace, redis_url: str, cluster: bool, partitions: int) -> int:
    redis = connect_redis(redis_url, cluster)
    try:
        if args.dlq_command == "list":
            letters = await list_letters(redis, partitions, args.kind, args.partition, args.count)
            print("ref\tdeliveries\tdead_at\treason")
            for letter in letters:
                dead_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(letter.dead_at_ms / 1000))
                print(f"{letter.ref}\t{letter.deliveries}\t{dead_at}\t{letter.reason}")
            return 0
        refs = [parse_ref(ref) for ref in args.refs]
        if args.all:
            every = await list_letters(redis, partitions, count=None)
            refs += [(d.partition, d.kind, d.entry_id) for d in every]
        if not refs:
            print(f"helpstream dlq {args.dlq_command}: give REFs or --all", file=sys.stderr)
            return 2
        missing = 0
        for partition, kind, entry_id in refs:
            ref = f"{partition}:{kind}:{entry_id}"
            if args.dlq_command == "replay":
                new_id = await replay(redis, partition, kind, entry_id)
                print(f"{ref}: replayed as {new_id}" if new_id else f"{ref}: no such dead letter")
                missing += new_id is None
            else:
                dropped = await drop(redis, partition, kind, entry_id)
                print(f"{ref}: dropped" if dropped else f"{ref}: no such dead letter")
                missing += not dropped
        return 1 if missing else 0
    except ValueError as exc:
        print(f"helpstream dlq: bad REF ({exc}); expected partition:kind:entry_id", file=sys.stderr)
        return 2
    finally:
        await redis.aclose()

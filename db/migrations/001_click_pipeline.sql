-- The click pipeline: raw clicks, sessionized paths, rollups for metrics, stream offsets.

-- Where each partition's worker has got to in each stream. Updated in the same transaction
-- as the data it applied, with a compare-and-set on last_id that fences out stale owners.
CREATE TABLE stream_offsets (
    partition   integer     NOT NULL,
    stream      text        NOT NULL,
    last_id     text        NOT NULL DEFAULT '0-0',
    stream_time bigint,                  -- newest event time applied on this partition
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partition, stream)
);

-- Live worker processes; partitions are shared among those with a fresh heartbeat.
CREATE TABLE workers (
    worker_id    text        PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Every distinct click ever received, late ones included (kept, never dropped).
-- event_key is the client's event_id, or a UUIDv5 of the event's content.
CREATE TABLE clicks (
    customer_id    bigint      NOT NULL,
    event_key      uuid        NOT NULL,
    ts             bigint      NOT NULL,
    source_page_id bigint      NOT NULL,
    target_page_id bigint      NOT NULL,
    is_resolved    boolean     NOT NULL,
    variant        text        NOT NULL,
    late           boolean     NOT NULL DEFAULT false,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, event_key)
);
CREATE INDEX clicks_customer_ts ON clicks (customer_id, ts) WHERE NOT late;
CREATE INDEX clicks_late_ts ON clicks (ts) WHERE late;

CREATE TABLE paths (
    path_id         bigserial   PRIMARY KEY,
    customer_id     bigint      NOT NULL,
    partition       integer     NOT NULL,
    variant         text        NOT NULL,
    start_ts        bigint      NOT NULL,
    end_ts          bigint      NOT NULL,
    pages           bigint[]    NOT NULL,
    path_length     integer     NOT NULL,
    status          text        NOT NULL CHECK (status IN ('open', 'resolved', 'abandoned')),
    has_turnaround  boolean     NOT NULL,
    last_arrival_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paths_by_customer ON paths (customer_id, start_ts, path_id);
CREATE INDEX paths_open ON paths (partition, end_ts) WHERE status = 'open';
CREATE INDEX paths_completed_end ON paths (end_ts) WHERE status <> 'open';

-- Per-minute rollups of completed paths, by the minute of the path's end time.
-- One row per partition too, so that partition workers never contend for a row.
CREATE TABLE path_rollups (
    variant               text    NOT NULL,
    bucket                bigint  NOT NULL,   -- unix seconds, a multiple of 60
    partition             integer NOT NULL,
    completed             bigint  NOT NULL DEFAULT 0,
    resolved              bigint  NOT NULL DEFAULT 0,
    abandoned             bigint  NOT NULL DEFAULT 0,
    turnaround_paths      bigint  NOT NULL DEFAULT 0,
    resolved_length_sum   bigint  NOT NULL DEFAULT 0,
    resolved_length_sumsq bigint  NOT NULL DEFAULT 0,
    late_events           bigint  NOT NULL DEFAULT 0, -- bucketed by the late event's time
    PRIMARY KEY (variant, bucket, partition)
);

CREATE TABLE page_rollups (
    variant     text    NOT NULL,
    bucket      bigint  NOT NULL,
    partition   integer NOT NULL,
    page_id     bigint  NOT NULL,
    visits      bigint  NOT NULL DEFAULT 0,
    departures  bigint  NOT NULL DEFAULT 0,
    turnarounds bigint  NOT NULL DEFAULT 0,
    resolutions bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (variant, bucket, partition, page_id)
);
CREATE INDEX page_rollups_bucket ON page_rollups (bucket);

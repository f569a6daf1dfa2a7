-- What every process of one deployment must agree on, recorded once at first setup.
-- One row (id is always true). `partitions` decides which stream an event goes to and
-- which worker applies it, so an API and workers configured differently would acknowledge
-- events nobody applies; processes compare their setting with this row at startup
-- (db/deployment.py) and refuse to start on a mismatch.
CREATE TABLE deployment (
    id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
    partitions  integer     NOT NULL CHECK (partitions BETWEEN 1 AND 1024),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

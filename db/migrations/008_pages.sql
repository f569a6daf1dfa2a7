-- Page names (contract §8): what the dashboard and the page metrics show instead of bare IDs.
-- Set with PUT /v1/pages/{page_id}; a page without a row here simply has no name.
CREATE TABLE pages (
    page_id    bigint      PRIMARY KEY CHECK (page_id >= 0),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    url        text,
    page_group text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pages_by_group ON pages (page_group, page_id);

-- Where each partition's idle-path closing got to (event time): paths that ended before it
-- are closed already, so a batch's closing scans only the event time passed since, instead
-- of every open-path index entry older than the bound. Those include the dead entries
-- each rewrite of an open path leaves until vacuum: the full range cost 11 ms per batch in
-- a 300,000-click run (issue 16). NULL: not known yet, scan from the start.
ALTER TABLE stream_offsets ADD COLUMN closed_before bigint;

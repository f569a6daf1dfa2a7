-- The worker's write path (issue 16): each clicks index costs every stored click a b-tree
-- insert, and `clicks_customer_ts` was only read by out-of-order re-folds. A re-fold now
-- finds a customer's clicks through the primary key's customer_id prefix, which it must
-- maintain anyway for de-duplication; COPY into clicks ran 1.4x faster without this index.
DROP INDEX IF EXISTS clicks_customer_ts;

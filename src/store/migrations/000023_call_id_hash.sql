-- cdrex store, version 23: the call-id index is a hash index, a quarter of the size (issue #16).
--
-- The call id is only ever compared for equality (filter_call_id, an interaction's legs), and
-- is unique in practice, so the account need not be in this index: the rows found are narrowed
-- to the account on the heap, as row-level security narrows them anyway. On one account's month
-- of 1,000,000 CDRs the btree on (account_id, call_id) took 122.5 MB, 122 B per CDR, the second
-- largest index of the table; this one takes 33.6 MB. Every other index serves a documented
-- filter with its time order, or the dedupe key, and stays.
--
-- Building it takes about 2.5 s per million rows on a 2-core machine, during which writes to
-- `cdrs` wait (an index on a partitioned table cannot be built CONCURRENTLY).
create index cdrs_call_id_hash on cdrs using hash (call_id);
drop index cdrs_call_id;

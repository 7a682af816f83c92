-- cdrex store, version 5: the per-account cap on unfinished exports (docs/security.md, "Fair
-- sharing"). Every create counts the account's pending and processing exports under a per-account
-- advisory lock; this index keeps that count to the few unfinished rows, however many completed
-- exports the account keeps.
create index exports_unfinished on exports (account_id) where status in ('pending', 'processing');

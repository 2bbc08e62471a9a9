"""The tamper-evident audit log: append-only, hash-chained entries in the store."""

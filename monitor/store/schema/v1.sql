-- Schema version 1 of the smartlead-monitor state file.
-- Times are integer microseconds since the Unix epoch (UTC); booleans are 0/1.

-- The last snapshot of every workspace: one row per mailbox, only non-secret fields.
-- `fields` packs the rest of the Account (see `_account_row` in sqlite.py): binding one
-- value instead of fifteen makes writing an inventory of 100,000 mailboxes twice as fast.
CREATE TABLE accounts (
    workspace TEXT NOT NULL,
    id INTEGER NOT NULL,
    fields BLOB NOT NULL,
    PRIMARY KEY (workspace, id)
) WITHOUT ROWID;

-- Tracked issues, pending and firing. Workspace-level kinds use account_id -1: SmartLead
-- account ids are never negative, and a primary key column cannot be NULL.
CREATE TABLE issues (
    workspace TEXT NOT NULL,
    account_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    account_ref_id INTEGER,  -- NULL: the issue carries no mailbox
    account_email TEXT,
    account_from_name TEXT,
    account_esp TEXT,
    account_client_id INTEGER,
    since INTEGER NOT NULL,
    detail TEXT NOT NULL,  -- JSON object
    observed_at INTEGER NOT NULL,
    firing INTEGER NOT NULL,
    failing_streak INTEGER NOT NULL,
    healthy_streak INTEGER NOT NULL,
    firing_for REAL NOT NULL,
    reminded_for REAL NOT NULL,
    reminders INTEGER NOT NULL,
    PRIMARY KEY (workspace, account_id, kind)
) WITHOUT ROWID;

-- The outcome of the last failure and inventory poll of each workspace.
CREATE TABLE polls (
    workspace TEXT NOT NULL,
    poll TEXT NOT NULL,
    at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    duration REAL NOT NULL,
    error TEXT,
    last_success_at INTEGER,
    accounts INTEGER,
    PRIMARY KEY (workspace, poll)
) WITHOUT ROWID;

-- Notifications not yet delivered. `seq` keeps the order per notifier and is never reused;
-- `id` is stable, so a replayed cycle cannot enqueue the same message twice.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    notifier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    events TEXT NOT NULL,  -- JSON array of events as the webhook payload carries them
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,  -- NULL: due now
    last_error TEXT
);

CREATE INDEX outbox_by_notifier ON outbox (notifier, seq);

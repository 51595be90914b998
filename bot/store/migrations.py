"""The schema, as numbered steps: each moves the database from version i to i+1."""

# Each migration moves the schema from version i to i+1. Append only; never edit a shipped one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE images (
        exposure_id  TEXT PRIMARY KEY,
        image_id     TEXT NOT NULL,
        mission      TEXT NOT NULL,
        sol          INTEGER NOT NULL,
        instrument   TEXT NOT NULL,
        family       TEXT NOT NULL,
        sequence     TEXT NOT NULL,
        version      INTEGER NOT NULL,
        tiles        INTEGER NOT NULL,
        taken_utc    TEXT,
        lmst         TEXT,
        received_utc TEXT,
        title        TEXT NOT NULL,
        caption      TEXT NOT NULL,
        credit       TEXT NOT NULL,
        small        TEXT NOT NULL,
        medium       TEXT NOT NULL,
        large        TEXT NOT NULL,
        full_res     TEXT NOT NULL,
        link         TEXT NOT NULL,
        first_poll   INTEGER          -- the poll that first saw it; NULL if only a command fetched it
    );
    CREATE INDEX images_by_sol ON images (mission, sol, taken_utc, exposure_id);
    CREATE INDEX images_by_poll ON images (first_poll);
    CREATE TABLE sol_fetches (
        mission    TEXT NOT NULL,
        sol        INTEGER NOT NULL,
        cameras    TEXT NOT NULL,     -- '|'-joined codes, '' for every camera
        fetched_at REAL NOT NULL,
        PRIMARY KEY (mission, sol, cameras)
    );
    CREATE TABLE polls (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        started_at  REAL NOT NULL,
        finished_at REAL,
        new_count   INTEGER,
        error       TEXT
    );
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: automatic posts. Images learn when they were first seen (digests cover "since the last
    # one"); polls learn whether their posts were queued (a kill in between is recovered).
    """
    ALTER TABLE images ADD COLUMN seen_at REAL;
    UPDATE images SET seen_at = COALESCE((SELECT finished_at FROM polls WHERE polls.id = images.first_poll), 0);
    CREATE INDEX images_by_seen ON images (seen_at);
    ALTER TABLE polls ADD COLUMN dispatched_at REAL;
    UPDATE polls SET dispatched_at = finished_at;
    CREATE TABLE subscriptions (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL,
        channel_id   INTEGER NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('images', 'news', 'digest')),
        camera       TEXT NOT NULL DEFAULT '',   -- Selection.key; '' = every camera
        codes        TEXT NOT NULL DEFAULT '',   -- '|'-joined instrument codes
        digest_time  TEXT NOT NULL DEFAULT '09:00',
        timezone     TEXT NOT NULL DEFAULT 'UTC',
        role_id      INTEGER,
        created_at   REAL NOT NULL,              -- nothing received before this is posted to it
        paused_at    REAL,
        paused_reason TEXT,
        UNIQUE (channel_id, kind)
    );
    CREATE TABLE news (
        key        TEXT PRIMARY KEY,             -- guid, else link
        feed       TEXT NOT NULL,
        title      TEXT NOT NULL,
        link       TEXT NOT NULL,
        summary    TEXT NOT NULL,
        image      TEXT NOT NULL,
        published  TEXT,
        seen_at    REAL NOT NULL,
        first_poll INTEGER
    );
    CREATE INDEX news_by_poll ON news (first_poll);
    CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY,
        key         TEXT NOT NULL UNIQUE,        -- what makes a post the same post: never two of it
        guild_id    INTEGER NOT NULL,
        channel_id  INTEGER NOT NULL,
        kind        TEXT NOT NULL,               -- images, news, digest, alert
        payload     TEXT NOT NULL,               -- JSON: content, embeds, role_id, files, summary, count
        nonce       TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'pending',  -- pending, held, sent, digested, failed
        message_id  INTEGER,
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_try_at REAL NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL,
        sent_at     REAL,
        error       TEXT
    );
    CREATE INDEX outbox_by_status ON outbox (status, next_try_at, id);
    CREATE INDEX outbox_by_channel ON outbox (channel_id, status, sent_at);
    CREATE TABLE digests (
        channel_id  INTEGER NOT NULL,
        local_date  TEXT NOT NULL,
        covered_from REAL NOT NULL,
        covered_to  REAL NOT NULL,
        outbox_id   INTEGER NOT NULL,
        PRIMARY KEY (channel_id, local_date)
    );
    """,
    # 3: a sequence trickling in over several polls becomes one post: an unsent post of the same
    # (sol, family, sequence) group absorbs the newcomers while it waits.
    """
    ALTER TABLE outbox ADD COLUMN grp TEXT;
    CREATE INDEX outbox_by_group ON outbox (channel_id, grp, status);
    """,
    # 4: exactly once past Discord's nonce window. A row is claimed ('sending') before it is sent;
    # from its first claim on it may be on Discord, so it is never changed again, and a re-send
    # long after first_attempt_at looks in the channel before sending.
    """
    ALTER TABLE outbox ADD COLUMN first_attempt_at REAL;
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_at REAL;
    CREATE INDEX outbox_by_sent_at ON outbox (status, sent_at);
    CREATE INDEX polls_by_dispatch ON polls (source, dispatched_at, finished_at);
    CREATE INDEX images_by_received ON images (received_utc);
    """,
    # frames: each picture's geometry (camera model, pointing, attitude) as NASA's record gave it, so
    # panoramas, stereo pairs and movies can be recognised and assembled across polls.
    """
    CREATE TABLE frames (
        image_id    TEXT PRIMARY KEY,            -- one row per tile: tiles are joined at assembly
        exposure_id TEXT NOT NULL,
        sol         INTEGER NOT NULL,
        instrument  TEXT NOT NULL,
        sequence    TEXT NOT NULL,
        record      TEXT NOT NULL,               -- the feed record's geometry fields, JSON
        seen_at     REAL NOT NULL,
        polled      INTEGER NOT NULL             -- 1: a poll saw it (digests); 0: a command fetched it
    );
    CREATE INDEX frames_by_sequence ON frames (sol, sequence);
    CREATE INDEX frames_by_seen ON frames (seen_at);
    """,
    # drives: a subscription kind for new end-of-drive positions. SQLite cannot ALTER a CHECK, so
    # the table is rebuilt with the wider one and every row copied (ids kept). The rover's last
    # position lives in `state` (drives.position:<mission>).
    """
    CREATE TABLE subscriptions_new (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL,
        channel_id   INTEGER NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('images', 'news', 'digest', 'drives')),
        camera       TEXT NOT NULL DEFAULT '',
        codes        TEXT NOT NULL DEFAULT '',
        digest_time  TEXT NOT NULL DEFAULT '09:00',
        timezone     TEXT NOT NULL DEFAULT 'UTC',
        role_id      INTEGER,
        created_at   REAL NOT NULL,
        paused_at    REAL,
        paused_reason TEXT,
        UNIQUE (channel_id, kind)
    );
    INSERT INTO subscriptions_new (id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id,
                                   created_at, paused_at, paused_reason)
        SELECT id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id, created_at, paused_at,
               paused_reason FROM subscriptions;
    DROP TABLE subscriptions;
    ALTER TABLE subscriptions_new RENAME TO subscriptions;
    """,
    # several subscriptions per channel (Mastcam-Z pinging one role, Navcam no ping), forum posts or
    # threads per sol, and webhook delivery. The table is rebuilt without UNIQUE (channel_id, kind),
    # every row and id kept; "the same subscription" is now (channel, kind, camera, role), and a
    # channel has one digest (digests are recorded per channel and local day). Threads made per
    # (channel, sol) are recorded so a restart never makes a second one; the webhooks the bot made
    # are kept (with when they vanished) so a re-send recognises posts made through an old one.
    """
    CREATE TABLE subscriptions_new (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL,
        channel_id   INTEGER NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('images', 'news', 'digest', 'drives')),
        camera       TEXT NOT NULL DEFAULT '',
        codes        TEXT NOT NULL DEFAULT '',
        digest_time  TEXT NOT NULL DEFAULT '09:00',
        timezone     TEXT NOT NULL DEFAULT 'UTC',
        role_id      INTEGER,
        created_at   REAL NOT NULL,
        paused_at    REAL,
        paused_reason TEXT,
        threads      TEXT NOT NULL DEFAULT '' CHECK (threads IN ('', 'text', 'forum')),
        webhook_name TEXT,
        webhook_avatar TEXT
    );
    INSERT INTO subscriptions_new (id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id,
                                   created_at, paused_at, paused_reason)
        SELECT id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id, created_at, paused_at,
               paused_reason FROM subscriptions;
    DROP TABLE subscriptions;
    ALTER TABLE subscriptions_new RENAME TO subscriptions;
    CREATE UNIQUE INDEX subscriptions_same ON subscriptions (channel_id, kind, camera, COALESCE(role_id, 0))
        WHERE kind != 'digest';
    CREATE UNIQUE INDEX subscriptions_one_digest ON subscriptions (channel_id) WHERE kind = 'digest';
    CREATE INDEX subscriptions_by_channel ON subscriptions (channel_id, kind);
    CREATE TABLE sol_threads (
        channel_id  INTEGER NOT NULL,            -- the text or forum channel the thread is in
        sol         INTEGER NOT NULL,
        thread_id   INTEGER NOT NULL,
        name        TEXT NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (channel_id, sol)
    );
    CREATE TABLE webhooks (
        id          INTEGER PRIMARY KEY,         -- Discord's webhook id
        channel_id  INTEGER NOT NULL,
        token       TEXT NOT NULL,
        created_at  REAL NOT NULL,
        gone_at     REAL                         -- Discord answered Unknown Webhook (deleted)
    );
    CREATE INDEX webhooks_by_channel ON webhooks (channel_id, gone_at);
    """,
    # 8: subscriptions per rover. Every subscription so far was Perseverance's; a digest's mission
    # may be '' (every rover). "The same subscription" now includes the rover.
    """
    ALTER TABLE subscriptions ADD COLUMN mission TEXT NOT NULL DEFAULT 'mars2020';
    UPDATE subscriptions SET mission = '' WHERE kind = 'news';   -- news is every rover's
    DROP INDEX subscriptions_same;
    CREATE UNIQUE INDEX subscriptions_same ON subscriptions (channel_id, kind, mission, camera, COALESCE(role_id, 0))
        WHERE kind != 'digest';
    CREATE TABLE sol_threads_new (
        channel_id  INTEGER NOT NULL,
        mission     TEXT NOT NULL,               -- each rover's sols have threads of their own
        sol         INTEGER NOT NULL,
        thread_id   INTEGER NOT NULL,
        name        TEXT NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (channel_id, mission, sol)
    );
    INSERT INTO sol_threads_new (channel_id, mission, sol, thread_id, name, created_at)
        SELECT channel_id, 'mars2020', sol, thread_id, name, created_at FROM sol_threads;
    DROP TABLE sol_threads;
    ALTER TABLE sol_threads_new RENAME TO sol_threads;
    """,
    # 9: several processes on one (PostgreSQL) database. Each process says it is alive and which
    # gateway shards it runs; one holds the leader lease (it polls NASA and composes digests).
    """
    CREATE TABLE processes (
        name         TEXT PRIMARY KEY,           -- host:pid
        shards       TEXT NOT NULL,              -- "0,1,2,3 of 16", or "all"
        shard_ids    TEXT NOT NULL,              -- "0|1|2|3" ('' for every shard)
        shard_count  INTEGER NOT NULL,
        started_at   REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        send_rate    REAL NOT NULL DEFAULT 0     -- its share of Discord's global limit, per second
    );
    CREATE TABLE leases (
        name        TEXT PRIMARY KEY,            -- 'leader'
        holder      TEXT NOT NULL,
        expires_at  REAL NOT NULL
    );
    """,
]

-- Projects: one row per hosted site. active_deployment_id points into
-- deployments; it is not a foreign key because the two tables refer to each
-- other, and every write of it happens in a transaction that checks it.
CREATE TABLE projects (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    created_at           INTEGER NOT NULL, -- unix nanoseconds, UTC
    updated_at           INTEGER NOT NULL,
    active_deployment_id TEXT
);

-- Blobs: content-addressed by SHA-256, stored once for the whole host. The
-- bytes live in blob_chunks so that large files stream without being loaded
-- whole; chunk is the id of the first chunk, the others follow in order.
-- gzip_size/br_size and gzip_chunk/br_chunk are set once background
-- compression has stored a variant; compressed_at marks that compression
-- was tried.
CREATE TABLE blobs (
    hash          TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,
    chunk         INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    compressible  INTEGER NOT NULL DEFAULT 0,
    compressed_at INTEGER,
    gzip_size     INTEGER,
    gzip_chunk    INTEGER,
    br_size       INTEGER,
    br_chunk      INTEGER
) WITHOUT ROWID; -- one B-tree keyed by hash, not a rowid table plus a hash index

-- A representation's bytes in fixed-size chunks with consecutive ids, found
-- from blobs.chunk (gzip_chunk, br_chunk) rather than through an index keyed
-- by hash: one B-tree less to write for every stored file. A rowid table on
-- purpose: rows are appended in id order, so a bucket's chunks fill whole
-- pages one after another, and a chunk of a few kilobytes stays on its page.
-- WITHOUT ROWID would cap a row's in-page part at about a quarter page,
-- sending every small file's bytes to an overflow page of its own.
CREATE TABLE blob_chunks (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);

-- Which blobs a project has uploaded. Dedup decisions look only here, so one
-- tenant never learns that another holds a file. hash is not a foreign key:
-- a cascade from blobs would need an index on hash, one more B-tree written
-- for every uploaded file; garbage collection, the only deleter of blobs,
-- removes the rows of the blobs it deletes itself, in the same transaction.
CREATE TABLE project_blobs (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    PRIMARY KEY (project_id, hash)
) WITHOUT ROWID;

-- Deployments are immutable once written.
CREATE TABLE deployments (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    config              TEXT NOT NULL,  -- JSON manifest.Config
    redirects           TEXT NOT NULL DEFAULT '',
    headers             TEXT NOT NULL DEFAULT '',
    run_worker_first    TEXT NOT NULL DEFAULT 'false', -- JSON
    env                 TEXT NOT NULL DEFAULT '{}',    -- JSON object
    entrypoint          TEXT,                          -- server-code module name, NULL without server code
    compatibility_date  TEXT NOT NULL DEFAULT '',
    compatibility_flags TEXT NOT NULL DEFAULT '[]',    -- JSON array
    assets_count        INTEGER NOT NULL
);
CREATE INDEX deployments_project ON deployments(project_id);

-- hash is not a foreign key into blobs: enforcing it costs a lookup at a
-- random place of the blobs B-tree for every asset of every deployment,
-- and Deploy checks that the blobs are there in one pass anyway, with an
-- error that says what to do. Garbage collection only deletes blobs that no
-- deployment lists.
CREATE TABLE deployment_assets (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    hash          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    PRIMARY KEY (deployment_id, path)
) WITHOUT ROWID;
-- No index on hash: only garbage collection looks assets up by hash, and it
-- reads them all on a snapshot instead (SQLite.CollectGarbage), so that a
-- deploy does not write one more B-tree, at random, for every asset.

CREATE TABLE deployment_modules (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    hash          TEXT NOT NULL, -- not a foreign key, as for deployment_assets
    PRIMARY KEY (deployment_id, name)
) WITHOUT ROWID;

-- Upload sessions keep their state server-side, so tokens stay small and
-- concurrent bucket uploads are safe.
CREATE TABLE upload_sessions (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    completion_jwt TEXT,
    remaining      INTEGER NOT NULL DEFAULT 0, -- hashes not yet received
    used           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX upload_sessions_project ON upload_sessions(project_id);

-- The manifest lives apart from the session row, which every bucket
-- updates: SQLite rewrites (and compares) a row's overflow pages on update,
-- and a 100,000-file manifest is megabytes.
CREATE TABLE upload_session_manifests (
    session_id TEXT PRIMARY KEY REFERENCES upload_sessions(id) ON DELETE CASCADE,
    manifest   TEXT NOT NULL -- JSON api.Manifest
);

-- The hashes a session asked for: the files its project lacked when it
-- began. Written once; a file has arrived when project_blobs holds it, so
-- buckets do not write this table.
CREATE TABLE session_hashes (
    session_id TEXT NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    compressible INTEGER NOT NULL DEFAULT 0, -- some path serves it with a compressible type
    PRIMARY KEY (session_id, hash)
) WITHOUT ROWID;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The PostgreSQL schema: the same data as the SQLite one (see
-- migrations/), with PostgreSQL's types. Times are unix nanoseconds, UTC,
-- as there, so both stores convert them alike.

CREATE TABLE projects (
    seq                  BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, -- listing order and cursor
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    slug                 TEXT UNIQUE,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    active_deployment_id TEXT
);

-- Blobs are content-addressed and stored once for the host. A
-- representation's bytes ("" identity, "gzip", "br") are rows of
-- blob_chunks keyed by hash, encoding and sequence number, so a large file
-- streams a chunk at a time and a collected blob's chunks cannot be
-- mistaken for another's.
CREATE TABLE blobs (
    hash          TEXT PRIMARY KEY,
    size          BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    compressible  BOOLEAN NOT NULL DEFAULT false,
    compressed_at BIGINT,
    gzip_size     BIGINT,
    br_size       BIGINT
);
CREATE INDEX blobs_to_compress ON blobs(hash) WHERE compressible AND compressed_at IS NULL;

CREATE TABLE blob_chunks (
    hash     TEXT NOT NULL,
    encoding TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (hash, encoding, seq)
);
-- Most content is compressed already, or compressed by us: PostgreSQL's
-- own compression of large values would spend CPU for nothing.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Which blobs a project has uploaded: dedup decisions look only here, so
-- one tenant never learns that another holds a file.
CREATE TABLE project_blobs (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    PRIMARY KEY (project_id, hash)
);

CREATE TABLE deployments (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, -- order among equal created_at
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    config              TEXT NOT NULL,
    redirects           TEXT NOT NULL DEFAULT '',
    headers             TEXT NOT NULL DEFAULT '',
    run_worker_first    TEXT NOT NULL DEFAULT 'false',
    env                 TEXT NOT NULL DEFAULT '{}',
    entrypoint          TEXT,
    compatibility_date  TEXT NOT NULL DEFAULT '',
    compatibility_flags TEXT NOT NULL DEFAULT '[]',
    assets_count        INTEGER NOT NULL,
    branch              TEXT NOT NULL DEFAULT '',
    branch_slug         TEXT NOT NULL DEFAULT '',
    production          BOOLEAN NOT NULL DEFAULT true
);
CREATE INDEX deployments_project ON deployments(project_id, created_at);
CREATE INDEX deployments_branch ON deployments(project_id, branch_slug, created_at) WHERE branch_slug <> '';

-- Garbage collection finds unreferenced blobs through the hash indexes.
CREATE TABLE deployment_assets (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    hash          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    PRIMARY KEY (deployment_id, path)
);
CREATE INDEX deployment_assets_hash ON deployment_assets(hash);

CREATE TABLE deployment_modules (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    hash          TEXT NOT NULL,
    PRIMARY KEY (deployment_id, name)
);
CREATE INDEX deployment_modules_hash ON deployment_modules(hash);

CREATE TABLE upload_sessions (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    completion_jwt TEXT,
    remaining      INTEGER NOT NULL DEFAULT 0,
    used           BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX upload_sessions_project ON upload_sessions(project_id);
CREATE INDEX upload_sessions_expiry ON upload_sessions(expires_at);

CREATE TABLE upload_session_manifests (
    session_id TEXT PRIMARY KEY REFERENCES upload_sessions(id) ON DELETE CASCADE,
    manifest   TEXT NOT NULL
);

CREATE TABLE session_hashes (
    session_id   TEXT NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    hash         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    compressible BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (session_id, hash)
);

-- Host-wide settings, the JWT secret among them: every replica signs and
-- checks upload tokens with the same one.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE project_tokens (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX project_tokens_project ON project_tokens(project_id);

CREATE TABLE project_vars (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    secret     BOOLEAN NOT NULL DEFAULT false,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE project_domains (
    hostname   TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX project_domains_project ON project_domains(project_id);

-- Every change that replicas must see (a deploy, rollback, delete, rename,
-- domain or variable change) appends a row here in its own transaction
-- and notifies the cfhost_changes channel with its seq. Replicas act on
-- the notification, and read the rows after the last seq they saw now and
-- then, in case a notification was lost. Garbage collection trims old
-- rows.
CREATE TABLE changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id TEXT NOT NULL, -- '' for a change of every project
    at         BIGINT NOT NULL
);

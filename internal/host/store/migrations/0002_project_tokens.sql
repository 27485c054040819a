-- Project tokens: credentials that act for one project only, so that a
-- tenant who deploys one project cannot touch the others. Only the SHA-256
-- of a token is kept (hash, lowercase hex): a copy of the database gives
-- nobody a usable token. The token itself is high-entropy random, so a
-- plain hash is enough; no salt or slow hash is needed. Deleting the
-- project deletes its tokens.
CREATE TABLE project_tokens (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL, -- unix nanoseconds, UTC
    last_used_at INTEGER           -- NULL until first used; updated at most once a minute
);
CREATE INDEX project_tokens_project ON project_tokens(project_id);

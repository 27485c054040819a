-- Project settings that outlive deployments: environment variables and
-- secrets for server code. A name is either a variable or a secret, never
-- both, so what a guest sees under a name never depends on merge order.
-- Secret values are stored as given (the database is the host's own, like
-- the JWT secret in settings); the API never returns them.
CREATE TABLE project_vars (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    secret     INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL, -- unix nanoseconds, UTC
    PRIMARY KEY (project_id, name)
) WITHOUT ROWID;

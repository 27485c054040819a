-- Custom domains: hostnames (or "*.example.com" wildcards) that route to a
-- project's live deployment. The hostname is the key, so one name belongs
-- to at most one project; the router keeps all rows in memory.
CREATE TABLE project_domains (
    hostname   TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL -- unix nanoseconds, UTC
) WITHOUT ROWID;
CREATE INDEX project_domains_project ON project_domains(project_id);

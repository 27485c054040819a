-- A production deploy, rollback or promote does not go live at its commit
-- but at switch_at (unix nanoseconds), a moment shortly after that every
-- replica has heard of it by then: until that moment every replica serves
-- prev_deployment_id, from it on the new one, so a visitor whose page and
-- script come from two replicas never gets a newer page with an older
-- script. (Postgres.ActiveSnapshot picks the one in force.)
ALTER TABLE projects ADD COLUMN prev_deployment_id TEXT;
ALTER TABLE projects ADD COLUMN switch_at BIGINT NOT NULL DEFAULT 0;

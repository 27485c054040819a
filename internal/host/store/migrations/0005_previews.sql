-- Preview deployments and project slugs. A deployment records the branch it
-- was made from (as given, and as the DNS-label slug its alias uses) and
-- whether it was deployed for production; a preview never moved the live
-- pointer. Existing deployments were all production deploys.
ALTER TABLE deployments ADD COLUMN branch TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN branch_slug TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN production INTEGER NOT NULL DEFAULT 1;
-- A branch alias serves the branch's newest deployment: one index seek.
CREATE INDEX deployments_branch ON deployments(project_id, branch_slug, created_at) WHERE branch_slug != '';

-- A project's slug is a second name usable in hostnames in place of its
-- id; at most one project holds a slug.
ALTER TABLE projects ADD COLUMN slug TEXT;
CREATE UNIQUE INDEX projects_slug ON projects(slug) WHERE slug IS NOT NULL;

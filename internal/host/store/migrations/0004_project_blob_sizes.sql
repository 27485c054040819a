-- The size of each blob a project holds, beside the record that it holds
-- it: the project's stored-bytes quota is then one range scan of its own
-- rows, not a lookup in blobs for every one of them inside the write
-- transaction that opens an upload session.
ALTER TABLE project_blobs ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE project_blobs SET size = coalesce((SELECT b.size FROM blobs b WHERE b.hash = project_blobs.hash), 0);

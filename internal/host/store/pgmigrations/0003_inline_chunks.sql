-- Chunks of up to about 8 KiB stay in blob_chunks' own pages instead of
-- going out of line to its TOAST table (PostgreSQL's default moves any row
-- over about 2 KiB there): a site's many small files are then written as
-- one row each, not as a row plus TOAST rows plus their index entries,
-- which roughly halves what PostgreSQL spends storing them. Larger chunks
-- are stored out of line as before, uncompressed (STORAGE EXTERNAL).
ALTER TABLE blob_chunks SET (toast_tuple_target = 8160);

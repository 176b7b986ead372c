-- Prompt lists page and filter by name in byte order (`COLLATE "C"`), the
-- order SQLite uses, so cursors and prefix ranges behave the same on both
-- and whatever the database's default collation is.
CREATE INDEX prompts_name_bytes ON prompts (name COLLATE "C");

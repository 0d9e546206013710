-- A read-only API token reads the API and MCP whatever its role, and is refused every
-- write. Tokens created before keep their rights.
ALTER TABLE api_tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1));

-- Ports of a running server shared at /user/{name}[/{server}]/ports/{port}/ (Coder-style port sharing).
CREATE TABLE shared_ports (
  id          INTEGER PRIMARY KEY,
  owner_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  server_name TEXT NOT NULL,
  port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
  level       TEXT NOT NULL CHECK (level IN ('owner', 'users', 'authenticated', 'public')),
  users       TEXT NOT NULL DEFAULT '[]',
  groups      TEXT NOT NULL DEFAULT '[]',
  created     TEXT NOT NULL,
  expires_at  TEXT,
  version     INTEGER NOT NULL DEFAULT 1,
  UNIQUE (owner_id, server_name, port)
);

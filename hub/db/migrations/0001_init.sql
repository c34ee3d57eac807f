-- LabHub schema v1. Timestamps are ISO-8601 UTC strings (as JupyterHub's API shows them).
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  admin         INTEGER NOT NULL DEFAULT 0,
  created       TEXT NOT NULL,
  last_activity TEXT,
  password_hash TEXT,
  auth_state    BLOB,              -- AES-256-GCM ciphertext, never clear text
  cookie_id     TEXT NOT NULL UNIQUE
);

CREATE TABLE groups (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE user_groups (
  user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, group_id)
);

CREATE TABLE roles (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  scopes      TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE user_roles (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, role_id)
);

CREATE TABLE group_roles (
  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  role_id  INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, role_id)
);

CREATE TABLE servers (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name          TEXT NOT NULL DEFAULT '',
  spawner_kind  TEXT NOT NULL,
  url           TEXT,                -- http://ip:port where the server listens (NULL when stopped)
  state         TEXT NOT NULL DEFAULT '{}',
  user_options  TEXT NOT NULL DEFAULT '{}',
  started       TEXT,
  last_activity TEXT,
  UNIQUE (user_id, name)
);

CREATE TABLE api_tokens (
  id            INTEGER PRIMARY KEY,
  hashed        TEXT NOT NULL UNIQUE,  -- sha256 of the token; the token itself is never stored
  prefix        TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('api', 'server', 'oauth')),
  user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
  server_id     INTEGER REFERENCES servers(id) ON DELETE CASCADE,
  client_id     TEXT,
  session_id    TEXT,
  note          TEXT NOT NULL DEFAULT '',
  scopes        TEXT NOT NULL DEFAULT '[]',
  roles         TEXT NOT NULL DEFAULT '[]',
  created       TEXT NOT NULL,
  expires_at    TEXT,
  last_activity TEXT
);
CREATE INDEX api_tokens_session ON api_tokens(session_id);

CREATE TABLE oauth_clients (
  id            INTEGER PRIMARY KEY,
  identifier    TEXT NOT NULL UNIQUE,
  secret_hash   TEXT,
  redirect_uri  TEXT NOT NULL,
  description   TEXT NOT NULL DEFAULT '',
  allowed_scopes TEXT NOT NULL DEFAULT '[]',
  created       TEXT NOT NULL
);

CREATE TABLE oauth_codes (
  hashed        TEXT PRIMARY KEY,
  client_id     TEXT NOT NULL REFERENCES oauth_clients(identifier) ON DELETE CASCADE,
  user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  scopes        TEXT NOT NULL,
  redirect_uri  TEXT NOT NULL,
  session_id    TEXT,
  expires_at    TEXT NOT NULL
);

CREATE TABLE sessions (
  sid     TEXT PRIMARY KEY,
  data    TEXT NOT NULL,
  expires INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions(expires);

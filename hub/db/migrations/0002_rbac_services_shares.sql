-- RBAC assignments for services, runtime/config services, sharing (JupyterHub 5.x).
CREATE TABLE services (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  url              TEXT,
  display          INTEGER NOT NULL DEFAULT 1,
  oauth_client_id  TEXT,
  oauth_no_confirm INTEGER NOT NULL DEFAULT 0,
  from_config      INTEGER NOT NULL DEFAULT 1,
  info             TEXT NOT NULL DEFAULT '{}',
  created          TEXT NOT NULL
);

CREATE TABLE service_roles (
  service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  role_id    INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  PRIMARY KEY (service_id, role_id)
);

ALTER TABLE api_tokens ADD COLUMN service_id INTEGER REFERENCES services(id) ON DELETE CASCADE;

CREATE TABLE shares (
  id          INTEGER PRIMARY KEY,
  owner_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  server_name TEXT NOT NULL,
  user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
  group_id    INTEGER REFERENCES groups(id) ON DELETE CASCADE,
  scopes      TEXT NOT NULL,
  created     TEXT NOT NULL,
  CHECK ((user_id IS NULL) != (group_id IS NULL))
);
CREATE UNIQUE INDEX shares_user ON shares(owner_id, server_name, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_group ON shares(owner_id, server_name, group_id) WHERE group_id IS NOT NULL;

CREATE TABLE share_codes (
  id                INTEGER PRIMARY KEY,
  hashed            TEXT NOT NULL UNIQUE,
  owner_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  server_name       TEXT NOT NULL,
  scopes            TEXT NOT NULL,
  created           TEXT NOT NULL,
  expires_at        TEXT NOT NULL,
  last_exchanged_at TEXT,
  exchange_count    INTEGER NOT NULL DEFAULT 0
);

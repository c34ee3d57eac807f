-- Audit log: who did what (logins, user/group changes, spawns/stops, tokens, shares, admin actions).
CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,            -- ISO-8601 UTC
  actor   TEXT NOT NULL,            -- user or service name; 'system' for the hub itself (culler, schedules, poller)
  action  TEXT NOT NULL,            -- e.g. login, user-created, server-start, token-created
  target  TEXT NOT NULL DEFAULT '', -- e.g. user:alice, group:teachers, server:alice/, service:x
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor, id);
CREATE INDEX audit_log_action ON audit_log(action, id);
CREATE INDEX audit_log_target ON audit_log(target, id);

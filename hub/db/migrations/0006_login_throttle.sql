-- Failed-login counters and lockouts (per username 'u:NAME' and per client IP 'ip:ADDR'), kept in the
-- database since 0006 so a hub restart does not reset them.
CREATE TABLE login_throttle (
  key          TEXT PRIMARY KEY,
  failures     TEXT NOT NULL DEFAULT '[]',
  last_failure INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER NOT NULL DEFAULT 0
);

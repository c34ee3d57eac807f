-- Per-IP request counters of the login and password forms (express-rate-limit), kept in the database
-- since 0007 so a hub restart does not hand every address a fresh window.
CREATE TABLE request_rate (
  key       TEXT PRIMARY KEY,
  hits      INTEGER NOT NULL,
  reset_at  INTEGER NOT NULL
);
CREATE INDEX request_rate_reset ON request_rate (reset_at);

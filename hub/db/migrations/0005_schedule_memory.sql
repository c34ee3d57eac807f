-- What the schedule runner must remember across hub restarts (was in memory until 0005): which
-- servers a schedule stopped (its morning start brings back only those), and admin overrides
-- ("keep this server running until ..."). Keyed by user id so renames keep them and deletes drop them.
CREATE TABLE schedule_stopped (
  schedule    TEXT NOT NULL,
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  server_name TEXT NOT NULL,
  PRIMARY KEY (schedule, user_id, server_name)
);
CREATE TABLE schedule_overrides (
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  server_name TEXT NOT NULL,
  until_ms    INTEGER NOT NULL,
  PRIMARY KEY (user_id, server_name)
);

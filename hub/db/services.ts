/** Services: externally managed (url + token) or hub-managed (command), from config or the API. */
import { prep, type Db } from './db.js';

export interface ServiceRow {
  id: number;
  name: string;
  url: string | null;
  display: number;
  oauth_client_id: string | null;
  oauth_no_confirm: number;
  from_config: number;
  info: string;
  created: string;
}

export class ServiceRepo {
  constructor(private readonly db: Db) {}

  byName(name: string): ServiceRow | undefined {
    return prep(this.db, 'SELECT * FROM services WHERE name = ?').get(name) as ServiceRow | undefined;
  }

  byId(id: number): ServiceRow | undefined {
    return prep(this.db, 'SELECT * FROM services WHERE id = ?').get(id) as ServiceRow | undefined;
  }

  list(): ServiceRow[] {
    return prep(this.db, 'SELECT * FROM services ORDER BY name').all() as ServiceRow[];
  }

  upsert(s: { name: string; url: string | null; display: boolean; oauthClientId: string | null; oauthNoConfirm: boolean; fromConfig: boolean; info: Record<string, unknown>; now: string }): ServiceRow {
    prep(this.db, 
        `INSERT INTO services (name, url, display, oauth_client_id, oauth_no_confirm, from_config, info, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET url = excluded.url, display = excluded.display, oauth_client_id = excluded.oauth_client_id,
           oauth_no_confirm = excluded.oauth_no_confirm, from_config = excluded.from_config, info = excluded.info`,
      )
      .run(s.name, s.url, s.display ? 1 : 0, s.oauthClientId, s.oauthNoConfirm ? 1 : 0, s.fromConfig ? 1 : 0, JSON.stringify(s.info), s.now);
    return this.byName(s.name)!;
  }

  delete(id: number): void {
    prep(this.db, 'DELETE FROM services WHERE id = ?').run(id);
  }
}

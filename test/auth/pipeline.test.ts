/**
 * The login pipeline on its own (real SQLite in memory): the JupyterHub stage order and each
 * stage's rules — normalization and username_map, unsafe names, blocked before allowed, the allow
 * sources (allowAll, lists, the method's own decision, existing users), admin grant/demotion,
 * group sync, encrypted auth state and the post-auth hook.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuthSchema } from '../../config/auth-schema.js';
import { AuthStateStore } from '../../hub/auth-state.js';
import { LoginPipeline, type LoginResult, type PostAuthHook } from '../../hub/auth/authenticator.js';
import { Crypter } from '../../hub/crypto.js';
import { openDb } from '../../hub/db/db.js';
import { UserRepo } from '../../hub/db/users.js';
import { createLogger } from '../../hub/log.js';
import { systemClock } from '../../hub/clock.js';

function setup(auth: Record<string, unknown>, hook?: PostAuthHook) {
  const db = openDb(':memory:');
  const users = new UserRepo(db);
  const authState = new AuthStateStore(db, new Crypter([randomBytes(32)]));
  const config = AuthSchema.parse(auth);
  const pipeline = new LoginPipeline({ db, users, authState, clock: systemClock, log: createLogger('silent'), config, postAuthHook: hook });
  return { db, users, authState, pipeline };
}

const r = (username: string, extra: Partial<LoginResult> = {}): LoginResult => ({ method: 'test', username, ...extra });

describe('login pipeline', () => {
  it('normalizes (trim, lowercase, map) and refuses unsafe names', async () => {
    const { pipeline, users } = setup({ allowAll: true, usernames: { map: { 'old.name': 'newname' } } });
    expect((await pipeline.run(r('  Alice '))).name).toBe('alice');
    expect((await pipeline.run(r('Old.Name'))).name).toBe('newname');
    for (const bad of ['../root', 'a/b', 'x'.repeat(65), '', 'with space', '.hidden']) await expect(pipeline.run(r(bad)), bad).rejects.toMatchObject({ status: 403 });
    expect(users.list().map((u) => u.name)).toEqual(['alice', 'newname']);
  });

  it('checks blocked before anything that allows', async () => {
    const { pipeline } = setup({ allowAll: true, adminUsers: ['Mallory'], blockedUsers: ['MALLORY'] });
    await expect(pipeline.run(r('mallory', { allowed: true }))).rejects.toMatchObject({ status: 403, message: 'User mallory is not allowed to log in' });
  });

  it('allows from any allow source, and only from those', async () => {
    const { pipeline, users } = setup({ allowedUsers: ['listed'], adminUsers: ['boss'], allowExistingUsers: true });
    users.create('existing', { now: new Date().toISOString() });
    for (const ok of [r('listed'), r('boss'), r('existing'), r('method-says-yes', { allowed: true })]) expect((await pipeline.run(ok)).name).toBe(ok.username);
    for (const no of [r('stranger'), r('method-says-no', { allowed: false })]) await expect(pipeline.run(no)).rejects.toMatchObject({ status: 403 });
    const strict = setup({ allowExistingUsers: false });
    strict.users.create('existing', { now: new Date().toISOString() });
    await expect(strict.pipeline.run(r('existing'))).rejects.toMatchObject({ status: 403 });
  });

  it('grants and revokes admin as the method says; adminUsers always win', async () => {
    const { pipeline } = setup({ allowAll: true, adminUsers: ['pi'] });
    expect((await pipeline.run(r('ann', { admin: true }))).admin).toBe(1);
    expect((await pipeline.run(r('ann'))).admin).toBe(1); // no opinion: unchanged
    expect((await pipeline.run(r('ann', { admin: false }))).admin).toBe(0); // demoted
    expect((await pipeline.run(r('pi', { admin: false }))).admin).toBe(1);
  });

  it('runs the hook, then syncs groups and saves encrypted auth state with the method name', async () => {
    const seen: string[] = [];
    const { pipeline, users, authState, db } = setup({ allowAll: true }, (res) => void seen.push(`${res.username}:${res.method}`));
    const u = await pipeline.run(r('gina', { groups: ['a', 'b'], authState: { access_token: 'tok-123456789' } }));
    expect(users.groupNames(u.id)).toEqual(['a', 'b']);
    await pipeline.run(r('gina', { groups: ['b', 'c'] }));
    expect(users.groupNames(u.id)).toEqual(['b', 'c']);
    expect(authState.get(u.id)).toEqual({ access_token: 'tok-123456789', method: 'test' });
    const raw = db.prepare('SELECT auth_state FROM users WHERE id = ?').get(u.id) as { auth_state: Buffer };
    expect(raw.auth_state.includes(Buffer.from('tok-123456789'))).toBe(false);
    expect(seen).toEqual(['gina:test', 'gina:test']);
  });

  it('a post-auth hook can refuse the login (nothing is written) or add to the auth state', async () => {
    const { pipeline, users, authState } = setup({ allowAll: true }, (res) => {
      if (res.username === 'nope') throw Object.assign(new Error('refused by hook'), { status: 403 });
      return { ...res, admin: true, authState: { ...res.authState, git_credentials: [{ host: 'git.lab', password: 'pw-from-hook' }] } };
    });
    await expect(pipeline.run(r('Nope'))).rejects.toThrow('refused by hook');
    expect(users.byName('nope')).toBeUndefined();
    const u = await pipeline.run(r('hooked', { authState: { access_token: 'x' } }));
    expect(u.admin).toBe(1);
    expect(authState.get(u.id)).toMatchObject({ access_token: 'x', git_credentials: [{ host: 'git.lab' }], method: 'test' });
  });
});

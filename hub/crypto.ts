/**
 * Encryption at rest for auth state (OAuth tokens, claims): AES-256-GCM under LABHUB_CRYPT_KEY.
 * Several keys may be configured; the first encrypts, all decrypt, so keys can be rotated
 * (JupyterHub's MultiFernet). Blob layout: 'L1' | key id (4 bytes) | iv (12) | tag (16) | ciphertext.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { HubError } from './errors.js';

const MAGIC = Buffer.from('L1');

function keyId(key: Buffer): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, 4);
}

export class Crypter {
  private readonly keys: Array<{ id: Buffer; key: Buffer }>;

  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new HubError(500, 'no encryption key configured');
    this.keys = keys.map((key) => ({ id: keyId(key), key }));
  }

  encrypt(plain: Buffer | string): Buffer {
    const { id, key } = this.keys[0];
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(MAGIC);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([MAGIC, id, iv, cipher.getAuthTag(), body]);
  }

  decrypt(blob: Buffer): Buffer {
    if (blob.length < 34 || !blob.subarray(0, 2).equals(MAGIC)) throw new HubError(500, 'encrypted data has an unknown format');
    const id = blob.subarray(2, 6);
    const entry = this.keys.find((k) => k.id.equals(id));
    if (!entry) throw new HubError(500, 'encrypted with a key that is no longer configured (LABHUB_CRYPT_KEY)');
    const decipher = createDecipheriv('aes-256-gcm', entry.key, blob.subarray(6, 18));
    decipher.setAAD(MAGIC);
    decipher.setAuthTag(blob.subarray(18, 34));
    return Buffer.concat([decipher.update(blob.subarray(34)), decipher.final()]);
  }

  encryptJson(value: unknown): Buffer {
    return this.encrypt(JSON.stringify(value));
  }

  decryptJson<T = unknown>(blob: Buffer): T {
    return JSON.parse(this.decrypt(blob).toString('utf8')) as T;
  }

  /** True when the blob was written with an older key and should be re-encrypted. */
  needsRotation(blob: Buffer): boolean {
    return !blob.subarray(2, 6).equals(this.keys[0].id);
  }
}

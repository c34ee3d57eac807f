/** Password hashing for local accounts (bcrypt, cost 12; pure JS so no native build is needed). */
import bcrypt from 'bcryptjs';

const COST = 12;

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, COST);
}

/** Constant-time verify; a missing hash still costs one bcrypt round so timing doesn't reveal users. */
// A fixed cost-12 hash (of 'labhub-dummy-password'): hashing it at start took ~280 ms of CPU on every launch.
const DUMMY = '$2b$12$4L6NosqjZ1lU8El6yQZ.k.MD948kb2PmT5lhOAaSYBTR2uO.H3A5C';
export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  const ok = await bcrypt.compare(password, hash ?? DUMMY);
  return ok && hash !== null;
}

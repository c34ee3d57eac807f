/** Password hashing for local accounts (bcrypt, cost 12; pure JS so no native build is needed). */
import bcrypt from 'bcryptjs';

const COST = 12;

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, COST);
}

/** Constant-time verify; a missing hash still costs one bcrypt round so timing doesn't reveal users. */
const DUMMY = bcrypt.hashSync('labhub-dummy-password', COST);
export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  const ok = await bcrypt.compare(password, hash ?? DUMMY);
  return ok && hash !== null;
}

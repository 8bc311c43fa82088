/**
 * The tokens guarding the dashboard: the admin token for destructive actions, and the read token
 * for peeks (which show job bodies). Either is the same kind of secret. Only its SHA-256 digest is kept; a
 * candidate is hashed and compared with crypto.timingSafeEqual, so the comparison takes the same
 * time whatever the candidate's length or how many leading bytes match. The token itself is never
 * logged or sent back.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Environment variable the proxy reads when --admin-token is not given. */
export const ADMIN_TOKEN_ENV = 'STALKD_ADMIN_TOKEN';
/** Environment variable the proxy reads when --dashboard-read-token is not given. */
export const READ_TOKEN_ENV = 'STALKD_DASHBOARD_READ_TOKEN';

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class AdminToken {
  private readonly digest: Buffer | null;

  /** An empty or missing token disables admin actions altogether. */
  constructor(token: string | undefined) {
    this.digest = token ? digestOf(token) : null;
  }

  get enabled(): boolean {
    return this.digest !== null;
  }

  matches(candidate: unknown): boolean {
    if (this.digest === null || typeof candidate !== 'string' || candidate.length > 4096) return false;
    return timingSafeEqual(digestOf(candidate), this.digest);
  }
}

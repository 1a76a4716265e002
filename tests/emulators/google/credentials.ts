import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

/**
 * A throwaway service account. Its key file carries a non-default `universe_domain`, so google-auth-library signs its
 * own JWT access tokens (the JWTAccess path) and never calls a token endpoint; the emulator verifies those JWTs with
 * the public half of the key.
 */
export class FakeServiceAccount {
  public readonly clientEmail: string;
  public readonly privateKeyId = randomBytes(20).toString('hex');
  public readonly privateKeyPem: string;
  public readonly publicKey: KeyObject;
  public readonly universeDomain = 'emulator.invalid';

  public constructor(public readonly project: string) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    this.publicKey = publicKey;
    this.clientEmail = `veobot-emulator@${project}.iam.gserviceaccount.com`;
  }

  public keyJson(): Record<string, string> {
    return {
      type: 'service_account',
      project_id: this.project,
      private_key_id: this.privateKeyId,
      private_key: this.privateKeyPem,
      client_email: this.clientEmail,
      client_id: '100000000000000000001',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'https://oauth2.googleapis.com/token',
      universe_domain: this.universeDomain,
    };
  }

  /** A JWT access token like the one google-auth-library self-signs (for tests that hand-roll an auth client). */
  public mintAccessToken(lifetimeSeconds = 3600): string {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: this.privateKeyId }));
    const payload = b64url(
      JSON.stringify({
        iss: this.clientEmail,
        sub: this.clientEmail,
        scope: 'https://www.googleapis.com/auth/cloud-platform',
        iat: now,
        exp: now + lifetimeSeconds,
        jti: randomUUID(),
      }),
    );
    const sig = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), this.privateKeyPem);
    return `${header}.${payload}.${b64url(sig)}`;
  }

  /** Verifies `Authorization: Bearer <JWT>`; returns null when valid, else the reason (never echoing the token). */
  public verifyBearer(authorization: string | undefined, nowMs = Date.now()): string | null {
    if (!authorization) return 'missing Authorization header';
    const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization.trim());
    if (!m) return 'Authorization is not a Bearer JWT';
    const [, h, p, s] = m as unknown as [string, string, string, string];
    let header: { alg?: string; kid?: string };
    let payload: { iss?: string; exp?: number; iat?: number };
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as typeof header;
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as typeof payload;
    } catch {
      return 'JWT is not valid JSON';
    }
    if (header.alg !== 'RS256') return `JWT alg ${String(header.alg)} is not RS256`;
    if (header.kid !== undefined && header.kid !== this.privateKeyId) return 'JWT kid is not the emulator key';
    if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), this.publicKey, Buffer.from(s, 'base64url'))) {
      return 'JWT signature does not verify against the emulator key';
    }
    if (payload.iss !== this.clientEmail) return 'JWT issuer is not the emulator service account';
    const now = Math.floor(nowMs / 1000);
    if (typeof payload.exp !== 'number' || payload.exp < now) return 'JWT has expired';
    if (typeof payload.iat === 'number' && payload.iat > now + 300) return 'JWT issued in the future';
    return null;
  }
}

function b64url(v: string | Buffer): string {
  return Buffer.from(v).toString('base64url');
}

/** Same encoding @google-cloud/storage uses when signing (encodes everything but A-Z a-z 0-9 ~ - . _). */
function fixedEncode(str: string): string {
  return encodeURIComponent(str).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export type SignedUrlCheck =
  { ok: true } | { ok: false; status: number; code: string; message: string; details: string };

/**
 * Checks a V4 signed URL request (GOOG4-RSA-SHA256): the validity window (`X-Goog-Date` + `X-Goog-Expires` against
 * `nowMs`) and the signature against the emulator service account's public key.
 */
export function checkV4SignedRequest(
  method: string,
  rawPath: string,
  rawQuery: string,
  headers: Record<string, string | string[] | undefined>,
  account: FakeServiceAccount,
  nowMs: number,
): SignedUrlCheck {
  const params: [string, string][] = rawQuery
    .split('&')
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf('=');
      const k = i < 0 ? kv : kv.slice(0, i);
      const v = i < 0 ? '' : kv.slice(i + 1);
      return [decodeURIComponent(k.replace(/\+/g, ' ')), decodeURIComponent(v.replace(/\+/g, ' '))];
    });
  const get = (name: string): string | undefined => params.find(([k]) => k === name)?.[1];
  const bad = (status: number, code: string, message: string, details: string): SignedUrlCheck => ({
    ok: false,
    status,
    code,
    message,
    details,
  });

  if (get('X-Goog-Algorithm') !== 'GOOG4-RSA-SHA256')
    return bad(400, 'InvalidArgument', 'Invalid argument.', 'Unsupported algorithm');
  const date = get('X-Goog-Date') ?? '';
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  const expires = Number(get('X-Goog-Expires'));
  if (!dm || !Number.isInteger(expires) || expires < 1 || expires > 604800) {
    return bad(400, 'InvalidArgument', 'Invalid argument.', 'X-Goog-Date or X-Goog-Expires is invalid');
  }
  const start = Date.UTC(+dm[1]!, +dm[2]! - 1, +dm[3]!, +dm[4]!, +dm[5]!, +dm[6]!);
  if (nowMs < start - 60_000) return bad(400, 'InvalidArgument', 'Invalid argument.', 'Request is not yet valid');
  if (nowMs > start + expires * 1000) {
    return bad(400, 'ExpiredToken', 'Invalid argument.', `Request has expired: ${date}`);
  }
  const credential = get('X-Goog-Credential') ?? '';
  const slash = credential.indexOf('/');
  const email = credential.slice(0, slash);
  const scope = credential.slice(slash + 1);
  if (email !== account.clientEmail) return bad(403, 'AccessDenied', 'Access denied.', 'Unknown signer');
  const signature = get('X-Goog-Signature') ?? '';
  const signedHeaders = (get('X-Goog-SignedHeaders') ?? '').split(';').filter(Boolean);

  const canonicalQuery = params
    .filter(([k]) => k !== 'X-Goog-Signature')
    .map(([k, v]) => [fixedEncode(k), fixedEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map((name) => {
      let value = headers[name];
      if (Array.isArray(value)) value = value.join(',');
      if (name === 'host') value = String(value ?? '').replace(/:\d+$/, '');
      return `${name}:${String(value ?? '')
        .trim()
        .replace(/\s{2,}/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [
    method,
    rawPath,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(';'),
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const blob = ['GOOG4-RSA-SHA256', date, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join(
    '\n',
  );
  let ok: boolean;
  try {
    ok =
      /^[0-9a-f]+$/i.test(signature) &&
      verify('RSA-SHA256', Buffer.from(blob), account.publicKey, Buffer.from(signature, 'hex'));
  } catch {
    ok = false;
  }
  if (!ok) {
    return bad(
      403,
      'SignatureDoesNotMatch',
      'Access denied.',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
  return { ok: true };
}

// HTTP side of the emulator: routing below /api[/vN], JSON and multipart bodies, bot-token auth, fault injection and a
// record of every call.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from './clock';
import { DiscordApiError, E, fail } from './errors';
import type { FaultSpec, RecordedCall, Upload } from './types';

export interface Ctx {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: any;
  files: Upload[];
}
export interface Result {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
export type Handler = (ctx: Ctx) => Result | Promise<Result>;
interface Route {
  method: string;
  re: RegExp;
  keys: string[];
  auth: boolean;
  handler: Handler;
}
export interface RouterHooks {
  clock: Clock;
  /** The bot token `Authorization: Bot <token>` must carry. */
  token: () => string;
  /** Serves a URL outside the API (attachment downloads, the CDN); `undefined` when it is not one. */
  file: (url: URL) => { status?: number; contentType: string; data: Buffer } | null | undefined;
  onChange: () => void;
}

// Messages of the faults' default bodies, by code (opcodes-and-status-codes.mdx, "JSON Error Codes").
const FAULT_MESSAGES: Partial<Record<number, string>> = {
  [E.MissingPermissions]: 'Missing Permissions',
  [E.MissingAccess]: 'Missing Access',
  [E.UnknownChannel]: 'Unknown Channel',
  [E.UnknownMessage]: 'Unknown Message',
  [E.UnknownInteraction]: 'Unknown interaction',
  [E.RequestEntityTooLarge]: 'Request entity too large',
  [E.InvalidWebhookToken]: 'Invalid Webhook Token',
};

/** One line per refused field: path, error code, and what the request carried there (for DISCORD_EMULATOR_LOG_REFUSALS). */
export function describeRefusal(call: RecordedCall): string {
  const lines = [`[discord-emulator] refused ${call.method} ${call.path}: ${JSON.stringify(call.response)}`];
  const walk = (errors: any, body: any, path: string[]) => {
    if (!errors || typeof errors !== 'object') return;
    for (const e of errors._errors ?? []) {
      const value = body === undefined ? undefined : JSON.stringify(body);
      const shown = value && value.length > 160 ? `${value.slice(0, 160)}… (${value.length} chars as JSON)` : value;
      const len = typeof body === 'string' ? `, ${[...body].length} characters` : '';
      lines.push(`  ${path.join('.') || '(body)'} ${e.code}: sent ${shown}${len}`);
    }
    for (const [k, v] of Object.entries(errors)) if (k !== '_errors') walk(v, body?.[k], [...path, k]);
  };
  walk((call.response as any)?.errors, call.body, []);
  return lines.join('\n');
}

export class Router {
  readonly calls: RecordedCall[] = [];
  readonly faults: FaultSpec[] = [];
  private readonly routes: Route[] = [];

  constructor(private readonly hooks: RouterHooks) {}

  /** `pattern` is a path below the version with `:name` parameters. `auth: false` for interaction/webhook routes. */
  route(method: string, pattern: string, handler: Handler, auth = true): void {
    const keys: string[] = [];
    const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, k) => (keys.push(k), '([^/]+)'))}/?$`);
    this.routes.push({ method, re, keys, auth, handler });
  }

  injectFault(fault: FaultSpec): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    if (method === 'GET') {
      const file = this.hooks.file(url);
      // A CDN outage (injectFault with the file's path): the status alone, as a CDN's error page would carry.
      const outage = file !== undefined ? this.takeFault(method, url.pathname) : undefined;
      if (outage) {
        res.writeHead(outage.status, { 'Content-Type': 'text/plain' });
        res.end(`${outage.status}: Emulated CDN fault`);
        return;
      }
      if (file !== undefined) {
        res.writeHead(file ? (file.status ?? 200) : 404, { 'Content-Type': file?.contentType ?? 'text/plain' });
        res.end(file?.data ?? 'Not Found');
        return;
      }
    }
    const m = /^\/api(?:\/v\d+)?(\/.*)?$/.exec(url.pathname);
    // discord.js sends `@original` URL-encoded (`%40original`): routes see decoded segments.
    const path = (m?.[1] ?? url.pathname)
      .split('/')
      .map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          return p;
        }
      })
      .join('/');
    const call: RecordedCall = {
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      files: [],
      status: 0,
      response: undefined,
      authorized: req.headers.authorization === `Bot ${this.hooks.token()}`,
      at: this.hooks.clock.now(),
    };
    this.calls.push(call);
    let result: Result;
    try {
      const ctx: Ctx = { method, path, params: {}, query: url.searchParams, ...(await this.parseBody(req, raw)) };
      call.body = ctx.body;
      call.files = ctx.files.map(({ data: _d, ...f }) => f);
      result = await this.dispatch(ctx, call, !!m);
    } catch (e) {
      if (e instanceof DiscordApiError)
        result = { status: e.status, body: { message: e.message, code: e.code, ...e.extra } };
      else {
        console.error('[discord-emulator]', e);
        result = { status: 500, body: { message: '500: Internal Server Error', code: E.GeneralError } };
      }
    }
    call.status = result.status;
    call.response = result.body;
    if (result.status === 400 && process.env.DISCORD_EMULATOR_LOG_REFUSALS === '1') console.warn(describeRefusal(call));
    const headers: Record<string, string> = { ...result.headers };
    if (result.body !== undefined) headers['Content-Type'] = 'application/json';
    res.writeHead(result.status, headers);
    res.end(result.body === undefined ? undefined : JSON.stringify(result.body));
    this.hooks.onChange();
  }

  /** JSON, or multipart with `payload_json` plus `files[n]` parts (discord-api-docs reference.mdx "Uploading Files"). */
  private async parseBody(req: IncomingMessage, raw: Buffer): Promise<{ body: any; files: Upload[] }> {
    const ct = req.headers['content-type'] ?? '';
    if (!raw.length) return { body: undefined, files: [] };
    if (ct.startsWith('multipart/form-data')) {
      const form = await new Response(raw, { headers: { 'content-type': ct } }).formData();
      let body: any = {};
      const files: Upload[] = [];
      for (const [field, value] of form.entries()) {
        if (typeof value === 'string') {
          if (field === 'payload_json') body = { ...body, ...JSON.parse(value) };
          else body[field] = value;
        } else {
          const data = Buffer.from(await value.arrayBuffer());
          files.push({
            field,
            name: value.name,
            size: data.length,
            contentType: value.type || 'application/octet-stream',
            data,
          });
        }
      }
      return { body, files };
    }
    try {
      return { body: JSON.parse(raw.toString('utf8')), files: [] };
    } catch {
      return fail(400, E.RequestBodyContainsInvalidJSON, 'The request body contains invalid JSON.');
    }
  }

  private async dispatch(ctx: Ctx, call: RecordedCall, underApi: boolean): Promise<Result> {
    const matches = underApi ? this.routes.filter((r) => r.re.test(ctx.path)) : [];
    const route = matches.find((r) => r.method === ctx.method);
    if (!route) {
      return matches.length
        ? { status: 405, body: { message: '405: Method Not Allowed', code: E.GeneralError } }
        : { status: 404, body: { message: '404: Not Found', code: E.GeneralError } };
    }
    if (route.auth && !call.authorized)
      return { status: 401, body: { message: '401: Unauthorized', code: E.GeneralError } };
    const fault = this.takeFault(ctx.method, ctx.path);
    if (fault) return fault;
    const values = route.re.exec(ctx.path)!.slice(1);
    route.keys.forEach((k, i) => (ctx.params[k] = values[i]));
    return route.handler(ctx);
  }

  private takeFault(method: string, path: string): Result | undefined {
    const list = this.faults;
    const i = list.findIndex(
      (f) =>
        (!f.method || f.method.toUpperCase() === method) &&
        (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path)),
    );
    if (i < 0) return undefined;
    const f = list[i];
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) list.splice(i, 1);
    if (f.status === 429) {
      // Body and headers: discord-api-docs developers/topics/rate-limits.mdx ("Exceeding A Rate Limit").
      const retryAfter = f.retryAfter ?? 0.05;
      const headers: Record<string, string> = {
        'Retry-After': String(retryAfter),
        'X-RateLimit-Scope': f.global ? 'global' : 'user',
      };
      if (f.global) headers['X-RateLimit-Global'] = 'true';
      return {
        status: 429,
        headers,
        body: {
          message: f.message ?? 'You are being rate limited.',
          retry_after: retryAfter,
          global: !!f.global,
          code: f.code ?? E.GeneralError,
        },
      };
    }
    const code = f.code ?? E.GeneralError;
    return {
      status: f.status,
      body: { message: f.message ?? FAULT_MESSAGES[code] ?? `${f.status}: Emulated fault`, code },
    };
  }
}

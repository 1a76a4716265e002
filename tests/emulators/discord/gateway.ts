// Gateway side of the emulator: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay, op 7 / op 9,
// sharding and the identify limits.
// Opcodes and close codes: discord-api-docs developers/topics/opcodes-and-status-codes.mdx (Gateway Opcodes, Gateway
// Close Event Codes); the exchange: developers/events/gateway.mdx.
// Sharding (gateway.mdx "Sharding"): IDENTIFY's `shard: [shard_id, num_shards]` (absent = [0, 1]); a guild's events go
// to the sessions whose shard is `(guild_id >> 22) % num_shards`, events without a guild to shard 0; "You can
// establish multiple sessions with the same [shard_id, num_shards], or sessions with different num_shards values":
// each session is routed by its own pair, and duplicate sessions all receive their shard's events (none is closed).
// Limits (gateway.mdx "Identifying", "Rate Limiting", "Max Concurrency", "Session Start Limit Object"): IDENTIFYs
// beyond `max_concurrency` per 5 s per bucket `shard_id % max_concurrency` get op 9 Invalid Session (d: false);
// past the session start limit "all active sessions for the app will be terminated, the bot token will be reset".
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { GatewayCloseCodes as Close, GatewayOpcodes as Op } from 'discord-api-types/v10';
import { WebSocket, WebSocketServer } from 'ws';
import type { Clock } from './clock';
import { shardOf, type WorldSharding } from './world';

export interface GatewayDispatch {
  s: number;
  t: string;
  d: unknown;
}

export interface GatewaySession {
  index: number;
  sessionId: string;
  /** `[shard_id, num_shards]` from IDENTIFY ([0, 1] when it sent none). */
  shard: [number, number];
  /** A socket is attached and open. */
  connected: boolean;
  /** READY was sent on this session. */
  ready: boolean;
  /** Ended (client closed with 1000/1001, op 9, or a non-resumable close): cannot be resumed. */
  invalidated: boolean;
  seq: number;
  intents: number;
  /** Emulator-clock times, and the matching wall-clock times (`Date.now()`) for benchmarks. */
  identifyAt: number;
  readyAt: number;
  identifyAtReal: number;
  readyAtReal: number;
  resumes: number;
  heartbeats: number;
  /** Close codes seen on this session's sockets, in order. */
  closeCodes: number[];
  /** Every dispatch sent (or buffered while disconnected) on this session. */
  dispatches: GatewayDispatch[];
  ws?: WebSocket;
}

/** An IDENTIFY the gateway refused, and how. */
export interface IdentifyRefusal {
  /** emulator-clock time */
  at: number;
  shard: unknown;
  /** 4010 / 4011 / 4004 close, or op 9 for identifying faster than max_concurrency allows */
  refusal: 'invalid_shard' | 'sharding_required' | 'session_start_limit' | 'max_concurrency';
}

export interface GatewayHooks {
  token: () => string;
  readyPayload: (session: GatewaySession) => Record<string, unknown>;
  /** GUILD_CREATE payloads of the guilds a session holds */
  guildCreates: (session: GatewaySession) => unknown[];
  /** every guild id of the application */
  guildIds: () => string[];
  sharding: () => WorldSharding;
  /** The session start limit ran out: Discord resets the bot token. */
  resetToken: () => void;
  onChange: () => void;
}

/** "Number of identify requests allowed per 5 seconds" (session start limit object, max_concurrency). */
export const IDENTIFY_WINDOW_MS = 5_000;
/**
 * Slack for the moment discord.js stamps (it takes its identify slot just before sending); without it an IDENTIFY
 * sent 5 s after the last one, as @discordjs/ws's SimpleIdentifyThrottler times it, could arrive a millisecond early.
 */
const IDENTIFY_WINDOW_SLACK_MS = 25;

// A client closing with 1000/1001 ends its session (gateway.mdx, "Initiating a Disconnect").
const NON_RESUMABLE_CLIENT_CLOSE = new Set([1000, 1001]);
// Server close codes that end the session: "Reconnect: false" (4004, 4010-4014) and "start a new session" (4007,
// 4009) in opcodes-and-status-codes.mdx, "Gateway Close Event Codes".
const NOT_RESUMABLE_CLOSE = new Set<number>([
  Close.AuthenticationFailed,
  Close.InvalidSeq,
  Close.SessionTimedOut,
  Close.InvalidShard,
  Close.ShardingRequired,
  Close.InvalidAPIVersion,
  Close.InvalidIntents,
  Close.DisallowedIntents,
]);

export class Gateway {
  readonly sessions: GatewaySession[] = [];
  readonly refusals: IdentifyRefusal[] = [];
  private readonly wss: WebSocketServer;
  heartbeatInterval = 41_250;
  /** Last accepted IDENTIFY per rate-limit bucket (emulator clock). */
  private readonly lastIdentifyByBucket = new Map<number, number>();
  /** Session starts in the current window, and when it began (emulator clock). */
  private sessionStarts = 0;
  private sessionWindowStart: number | undefined;

  constructor(
    server: Server,
    private readonly clock: Clock,
    private readonly hooks: GatewayHooks,
  ) {
    this.wss = new WebSocketServer({ server });
    this.wss.on('connection', (ws) => this.onConnection(ws));
  }

  private send(ws: WebSocket | undefined, payload: unknown): void {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(payload));
  }

  private onConnection(ws: WebSocket): void {
    let session: GatewaySession | undefined;
    this.send(ws, { op: Op.Hello, s: null, t: null, d: { heartbeat_interval: this.heartbeatInterval } });
    ws.on('message', (raw) => {
      let msg: { op: Op; d: any };
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        ws.close(Close.DecodeError, 'Decode error');
        return;
      }
      switch (msg.op) {
        case Op.Heartbeat:
          if (session) session.heartbeats++;
          this.send(ws, { op: Op.HeartbeatAck, s: null, t: null, d: null });
          break;
        case Op.Identify:
          if (session) return ws.close(Close.AlreadyAuthenticated, 'Already authenticated');
          if (msg.d?.token !== this.hooks.token()) return ws.close(Close.AuthenticationFailed, 'Authentication failed');
          session = this.admit(ws, msg.d);
          break;
        case Op.Resume: {
          const found = this.sessions.find((x) => x.sessionId === msg.d?.session_id);
          if (msg.d?.token !== this.hooks.token()) return ws.close(Close.AuthenticationFailed, 'Authentication failed');
          if (!found || found.invalidated) {
            this.send(ws, { op: Op.InvalidSession, s: null, t: null, d: false });
            return;
          }
          session = found;
          this.resume(ws, found, Number(msg.d.seq ?? 0));
          break;
        }
        default:
          break; // presence updates, request guild members…: accepted and ignored
      }
    });
    ws.on('close', (code) => {
      if (!session || session.ws !== ws) return;
      session.connected = false;
      session.ws = undefined;
      session.closeCodes.push(code);
      if (NON_RESUMABLE_CLIENT_CLOSE.has(code)) session.invalidated = true;
      this.hooks.onChange();
    });
  }

  /** The session start limit as GET /gateway/bot reports it. */
  sessionStartLimit(): { total: number; remaining: number; reset_after: number; max_concurrency: number } {
    const { sessionStartTotal, sessionStartWindowMs, maxConcurrency } = this.hooks.sharding();
    this.rollSessionWindow();
    const resetAfter =
      this.sessionWindowStart === undefined
        ? sessionStartWindowMs
        : Math.max(0, this.sessionWindowStart + sessionStartWindowMs - this.clock.now());
    return {
      total: sessionStartTotal,
      remaining: Math.max(0, sessionStartTotal - this.sessionStarts),
      reset_after: resetAfter,
      max_concurrency: maxConcurrency,
    };
  }

  private rollSessionWindow(): void {
    const { sessionStartWindowMs } = this.hooks.sharding();
    if (this.sessionWindowStart !== undefined && this.clock.now() >= this.sessionWindowStart + sessionStartWindowMs) {
      this.sessionWindowStart = undefined;
      this.sessionStarts = 0;
    }
  }

  /** Applies Discord's IDENTIFY rules; a session (READY) only when they all pass. */
  private admit(ws: WebSocket, d: { intents?: number; shard?: unknown }): GatewaySession | undefined {
    const refuse = (refusal: IdentifyRefusal['refusal']) => {
      this.refusals.push({ at: this.clock.now(), shard: d.shard, refusal });
      this.hooks.onChange();
    };
    const sharding = this.hooks.sharding();
    const shard = parseShard(d.shard);
    if (!shard) {
      refuse('invalid_shard');
      ws.close(Close.InvalidShard, 'Invalid shard');
      return undefined;
    }
    const held = this.hooks.guildIds().filter((id) => shardOf(id, shard[1]) === shard[0]).length;
    if (held > sharding.maxGuildsPerShard) {
      refuse('sharding_required');
      ws.close(Close.ShardingRequired, 'Sharding required');
      return undefined;
    }
    this.rollSessionWindow();
    if (this.sessionStarts >= sharding.sessionStartTotal) {
      // "Upon hitting this limit, all active sessions for the app will be terminated, the bot token will be reset"
      // (gateway.mdx "Identifying"). The new token is the emulator's `token`; the old one gets 401 / 4004.
      refuse('session_start_limit');
      this.hooks.resetToken();
      ws.close(Close.AuthenticationFailed, 'Authentication failed');
      for (const s of this.live()) this.closeSession(s.index, Close.AuthenticationFailed, 'Authentication failed');
      return undefined;
    }
    const bucket = shard[0] % sharding.maxConcurrency;
    const last = this.lastIdentifyByBucket.get(bucket);
    if (last !== undefined && this.clock.now() - last < IDENTIFY_WINDOW_MS - IDENTIFY_WINDOW_SLACK_MS) {
      // "If you hit this limit, the Gateway will respond with an Invalid Session (opcode 9)" (gateway.mdx "Rate
      // Limiting"); d: false, so the client opens a new connection and identifies again.
      refuse('max_concurrency');
      this.send(ws, { op: Op.InvalidSession, s: null, t: null, d: false });
      return undefined;
    }
    this.lastIdentifyByBucket.set(bucket, this.clock.now());
    this.sessionWindowStart ??= this.clock.now();
    this.sessionStarts++;
    return this.identify(ws, d, shard);
  }

  private identify(ws: WebSocket, d: { intents?: number }, shard: [number, number]): GatewaySession {
    const session: GatewaySession = {
      index: this.sessions.length,
      sessionId: randomBytes(16).toString('hex'),
      shard,
      connected: true,
      ready: false,
      invalidated: false,
      seq: 0,
      intents: Number(d.intents ?? 0),
      identifyAt: this.clock.now(),
      identifyAtReal: Date.now(),
      readyAt: 0,
      readyAtReal: 0,
      resumes: 0,
      heartbeats: 0,
      closeCodes: [],
      dispatches: [],
      ws,
    };
    this.sessions.push(session);
    this.dispatch(session, 'READY', this.hooks.readyPayload(session));
    session.ready = true;
    session.readyAt = this.clock.now();
    session.readyAtReal = Date.now();
    for (const g of this.hooks.guildCreates(session)) this.dispatch(session, 'GUILD_CREATE', g);
    this.hooks.onChange();
    return session;
  }

  private resume(ws: WebSocket, session: GatewaySession, seq: number): void {
    if (session.ws && session.ws !== ws) session.ws.terminate();
    session.ws = ws;
    session.connected = true;
    session.resumes++;
    for (const p of session.dispatches) if (p.s > seq) this.send(ws, { op: Op.Dispatch, ...p });
    this.dispatch(session, 'RESUMED', null);
    this.hooks.onChange();
  }

  /** Sends (or, while the session is disconnected but resumable, buffers for replay) one dispatch. */
  dispatch(session: GatewaySession, t: string, d: unknown): void {
    const p: GatewayDispatch = { s: ++session.seq, t, d };
    session.dispatches.push(p);
    if (session.connected) this.send(session.ws, { op: Op.Dispatch, ...p });
  }

  /** Sessions that can receive dispatches right now. */
  live(): GatewaySession[] {
    return this.sessions.filter((x) => x.connected && x.ready && !x.invalidated);
  }

  /** Whether a session receives a guild's events (no guild: a DM or app-wide event, shard 0 only). */
  routes(session: GatewaySession, guildId: string | undefined): boolean {
    const [id, count] = session.shard;
    return guildId === undefined ? id === 0 : shardOf(guildId, count) === id;
  }

  /** Live sessions that receive a guild's events. */
  liveFor(guildId: string | undefined): GatewaySession[] {
    return this.live().filter((x) => this.routes(x, guildId));
  }

  resolve(index?: number): GatewaySession {
    const session = index === undefined ? this.live().at(-1) : this.sessions[index];
    if (!session) throw new Error(`No gateway session ${index ?? '(live)'}; sessions: ${this.sessions.length}`);
    return session;
  }

  /** Op 7: the client closes with 4200 and RESUMEs on resume_gateway_url. */
  sendReconnect(index?: number): void {
    this.send(this.resolve(index).ws, { op: Op.Reconnect, s: null, t: null, d: null });
  }

  /** Op 9. `resumable: false` ends the session, so the client re-identifies (a new session). */
  invalidateSession(index?: number, resumable = false): void {
    const session = this.resolve(index);
    if (!resumable) session.invalidated = true;
    this.send(session.ws, { op: Op.InvalidSession, s: null, t: null, d: resumable });
  }

  /** Server-side close. Codes such as 4000 are resumable; 4004 and 4010-4014 make discord.js give up. */
  closeSession(index?: number, code: number = Close.UnknownError, reason = 'emulator close'): void {
    const session = this.resolve(index);
    if (NOT_RESUMABLE_CLOSE.has(code)) session.invalidated = true;
    session.ws?.close(code, reason);
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

/**
 * IDENTIFY's `shard`: absent means [0, 1]; otherwise two integers with 0 <= shard_id < num_shards (else 4010
 * "You sent an invalid shard when identifying", opcodes-and-status-codes.mdx).
 */
function parseShard(value: unknown): [number, number] | undefined {
  if (value === undefined || value === null) return [0, 1];
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [id, count] = value as unknown[];
  if (!Number.isSafeInteger(id) || !Number.isSafeInteger(count)) return undefined;
  if ((count as number) < 1 || (id as number) < 0 || (id as number) >= (count as number)) return undefined;
  return [id as number, count as number];
}

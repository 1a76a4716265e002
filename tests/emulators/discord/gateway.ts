// Gateway side of the emulator: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay, op 7 / op 9.
// Opcodes and close codes: discord-api-docs developers/topics/opcodes-and-status-codes.mdx (Gateway Opcodes, Gateway
// Close Event Codes); the exchange: developers/events/gateway.mdx.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { GatewayCloseCodes as Close, GatewayOpcodes as Op } from 'discord-api-types/v10';
import { WebSocket, WebSocketServer } from 'ws';
import type { Clock } from './clock';

export interface GatewayDispatch {
  s: number;
  t: string;
  d: unknown;
}

export interface GatewaySession {
  index: number;
  sessionId: string;
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

export interface GatewayHooks {
  token: () => string;
  readyPayload: (session: GatewaySession) => Record<string, unknown>;
  guildCreates: () => unknown[];
  onChange: () => void;
}

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
  private readonly wss: WebSocketServer;
  heartbeatInterval = 41_250;

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
          session = this.identify(ws, msg.d);
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

  private identify(ws: WebSocket, d: { intents?: number }): GatewaySession {
    const session: GatewaySession = {
      index: this.sessions.length,
      sessionId: randomBytes(16).toString('hex'),
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
    for (const g of this.hooks.guildCreates()) this.dispatch(session, 'GUILD_CREATE', g);
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

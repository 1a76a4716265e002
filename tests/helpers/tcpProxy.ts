import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server (PostgreSQL in the outage tests), so a test can cut the bot off from it
 * without touching the server other tests share:
 *
 * ```ts
 * const proxy = await TcpProxy.start({ host: '127.0.0.1', port: 5432 });
 * const url = proxy.rewrite(db.url);   // same database, through the proxy
 * proxy.cut();                          // every open connection dies; new ones are dropped at once
 * proxy.restore();                      // connections go through again
 * await proxy.cutWhen('INSERT INTO t');  // cuts (as above, then restores) when a client sends that text
 * await proxy.close();
 * ```
 *
 * While cut, new connections are accepted and reset straight away (what a client sees when a server restarts or a
 * network path drops), rather than closing the listener, so the port can never be taken by someone else meanwhile.
 */
export class TcpProxy {
  /** Client sockets with their upstream sockets, for cut(). */
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** Connections accepted while frozen (paused, never forwarded), for cut() and close(). */
  private readonly unanswered = new Set<Socket>();
  private isCut = false;
  private isFrozen = false;
  private restoreTimer: NodeJS.Timeout | undefined;
  /** One-shot cuts armed by cutWhen(), each waiting for its text in what a client sends. */
  private readonly triggers: { text: Buffer; forMs: number; fired: () => void }[] = [];
  public accepted = 0;
  public refused = 0;
  /** Connections destroyed by cut() while open. */
  public severed = 0;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {}

  public static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, target);
    server.on('connection', (socket) => proxy.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  public get port(): number {
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('proxy not listening');
    return address.port;
  }

  /** Open proxied connections right now. */
  public get open(): number {
    return this.pairs.size;
  }

  public get cutNow(): boolean {
    return this.isCut;
  }

  /** The same URL with its host and port replaced by the proxy's. */
  public rewrite(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** Destroys every open connection and drops new ones until restore() (or for `forMs`, then restores itself). */
  public cut(forMs?: number): void {
    this.isCut = true;
    for (const pair of this.pairs) {
      this.severed++;
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    for (const client of this.unanswered) client.resetAndDestroy();
    this.unanswered.clear();
    if (this.restoreTimer) clearTimeout(this.restoreTimer);
    if (forMs !== undefined) this.restoreTimer = setTimeout(() => this.restore(), forMs);
  }

  /**
   * Stops passing bytes either way without closing anything: every query in flight, and every new connection, hangs
   * (what a client sees of a server that stopped answering, or a network path that black-holes packets).
   */
  public freeze(): void {
    this.isFrozen = true;
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /**
   * Arms a one-shot cut: the first client chunk holding `text` (for PostgreSQL, the SQL of a statement, sent in its
   * Parse message ahead of the values) is dropped and every connection cut, for `forMs` (0: new connections go through
   * at once). Resolves when that happened.
   */
  public cutWhen(text: string, forMs = 0): Promise<void> {
    return new Promise((resolve) => this.triggers.push({ text: Buffer.from(text), forMs, fired: resolve }));
  }

  public restore(): void {
    if (this.restoreTimer) clearTimeout(this.restoreTimer);
    this.restoreTimer = undefined;
    this.isCut = false;
  }

  public async close(): Promise<void> {
    this.cut();
    this.restore();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: Socket): void {
    if (this.isFrozen) {
      client.on('error', () => undefined);
      client.pause(); // accepted, never answered
      // A paused socket never notices its peer closing: cut() and close() end it, or server.close() would wait forever.
      this.unanswered.add(client);
      client.on('close', () => this.unanswered.delete(client));
      return;
    }
    if (this.isCut) {
      this.refused++;
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    this.accepted++;
    const upstream = connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    // Forwarded chunk by chunk (not piped) to see what is sent; the last bytes of the previous chunk are kept, so a
    // text split across two chunks is still found.
    let tail = Buffer.alloc(0);
    const forward = (chunk: Buffer) => {
      if (this.triggers.length > 0) {
        const seen = Buffer.concat([tail, chunk]);
        const at = this.triggers.findIndex((t) => seen.includes(t.text));
        if (at >= 0) {
          const [trigger] = this.triggers.splice(at, 1);
          this.cut(trigger!.forMs);
          trigger!.fired();
          return;
        }
        const keep = Math.max(...this.triggers.map((t) => t.text.length));
        tail = seen.subarray(Math.max(0, seen.length - keep));
      }
      if (!upstream.write(chunk)) client.pause();
    };
    client.on('data', forward);
    upstream.on('drain', () => {
      if (!this.isFrozen) client.resume();
    });
    upstream.pipe(client);
  }
}

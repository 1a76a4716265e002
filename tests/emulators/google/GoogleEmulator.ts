// Local Vertex AI (Veo) and Cloud Storage for the tests, the sandbox, the bench and the chaos run. This class is the
// facade; the parts live in vertex.ts (operations, billing, quota), fates.ts, faults.ts, vertexValidation.ts,
// veoInputs.ts, gcs/ (objects, JSON API, uploads, media and signed URLs), recorder.ts, router.ts (HTTP) and
// credentials.ts. Layout and the Google rules enforced, with their sources: README.md.
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FakeServiceAccount } from './credentials';
import { FaultBook } from './faults';
import { FakeGcs, fakeMp4, type StoredObject } from './gcs';
import { RequestRecorder } from './recorder';
import { requestListener } from './router';
import type {
  Fate,
  Fault,
  GoogleEmulatorOptions,
  OperationRecord,
  RequestRecord,
  SubmitRateLimit,
  SubmitRecord,
} from './types';
import { FakeVertex, KNOWN_VEO_MODELS } from './vertex';

export { KNOWN_VEO_MODELS };
export type {
  Fate,
  Fault,
  FaultRoute,
  GoogleEmulatorOptions,
  OperationRecord,
  OperationState,
  RecordedPart,
  RequestRecord,
  SubmitRateLimit,
  SubmitRecord,
} from './types';

/**
 * Local Vertex AI (Veo predictLongRunning / fetchPredictOperation) and Cloud Storage JSON API in one node:http server,
 * sharing one in-memory bucket. Operations and objects live as long as the emulator, so a bot process can be killed and
 * restarted against the same instance.
 */
export class GoogleEmulator {
  public readonly project: string;
  public readonly location: string;
  public readonly bucket: string;
  public readonly account: FakeServiceAccount;
  public readonly operations: Map<string, OperationRecord>;
  /** Accepted (billed) submits, in order. */
  public readonly submits: SubmitRecord[];
  /** Every Vertex/Storage request the emulator answered (or dropped). */
  public readonly requests: RequestRecord[];
  /** Valid-JWT check failures (reasons only, never tokens). */
  public readonly authFailures: string[] = [];
  /** Submits answered 429 because of the submit quota (SubmitRateLimit), with when. */
  public readonly rateLimited: { at: Date; retryDelayMs: number }[];

  private readonly gcs: FakeGcs;
  private readonly vertex: FakeVertex;
  private readonly faults = new FaultBook();
  private readonly recorder: RequestRecorder;
  private server!: Server;
  private tick?: NodeJS.Timeout;
  private port = 0;

  private constructor(opts: GoogleEmulatorOptions) {
    this.project = opts.project ?? 'veobot-test';
    this.location = opts.location ?? 'us-central1';
    this.bucket = opts.bucket ?? 'veobot-test-videos';
    this.account = new FakeServiceAccount(this.project);
    this.gcs = new FakeGcs(new Set([this.bucket]), () => this.baseUrl, this.account);
    this.vertex = new FakeVertex(
      {
        project: this.project,
        models: opts.models ?? KNOWN_VEO_MODELS,
        defaultFate: opts.defaultFate ?? { kind: 'done' },
        defaultVideoBytes: opts.defaultVideoBytes ?? 256 * 1024,
        nestedOutputFolder: opts.nestedOutputFolder ?? true,
        submitRateLimit: opts.submitRateLimit,
      },
      this.gcs,
    );
    this.recorder = new RequestRecorder(() => this.baseUrl);
    this.operations = this.vertex.operations;
    this.submits = this.vertex.submits;
    this.rateLimited = this.vertex.rateLimited;
    this.requests = this.recorder.requests;
  }

  public static async start(opts: GoogleEmulatorOptions = {}): Promise<GoogleEmulator> {
    const emu = new GoogleEmulator(opts);
    emu.server = createServer(
      requestListener({
        baseUrl: () => emu.baseUrl,
        vertex: emu.vertex,
        gcs: emu.gcs,
        faults: emu.faults,
        recorder: emu.recorder,
        account: emu.account,
        authFailures: emu.authFailures,
      }),
    );
    await new Promise<void>((resolve, reject) => {
      emu.server.once('error', reject);
      emu.server.listen(0, '127.0.0.1', () => resolve());
    });
    emu.port = (emu.server.address() as AddressInfo).port;
    emu.tick = setInterval(() => emu.vertex.settleDue(), opts.tickMs ?? 20);
    emu.tick.unref();
    return emu;
  }

  public get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  public async close(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Most operations running at the same time (a test may reset it). */
  public get maxInFlight(): number {
    return this.vertex.maxInFlight;
  }

  public set maxInFlight(n: number) {
    this.vertex.maxInFlight = n;
  }

  /** Sum of durationSeconds × sampleCount over accepted submits. */
  public get billedSeconds(): number {
    return this.vertex.billedSeconds;
  }

  public set billedSeconds(n: number) {
    this.vertex.billedSeconds = n;
  }

  // ---------------------------------------------------------------- settings for clients

  /** Writes the throwaway service-account key (non-default universe_domain) into `dir`; returns its path. */
  public writeServiceAccountKey(dir: string): string {
    const file = join(dir, `veobot-emulator-sa-${this.port}.json`);
    writeFileSync(file, JSON.stringify(this.account.keyJson(), null, 2), { mode: 0o600 });
    chmodSync(file, 0o600);
    return file;
  }

  /** The settings an operator would set for the bot to use this emulator. */
  public env(keyFile: string): Record<string, string> {
    return {
      GOOGLE_CLOUD_PROJECT: this.project,
      GOOGLE_CLOUD_LOCATION: this.location,
      VERTEX_API_ENDPOINT: this.baseUrl,
      GCS_API_ENDPOINT: this.baseUrl,
      GCS_BUCKET: this.bucket,
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
      METADATA_SERVER_DETECTION: 'none',
    };
  }

  /** A bearer JWT the emulator accepts (for tests that build an OAuth2Client with a static token). */
  public accessToken(): string {
    return this.account.mintAccessToken();
  }

  // ---------------------------------------------------------------- scripting

  public setDefaultFate(fate: Fate): void {
    this.vertex.fates.setDefault(fate);
  }

  /** Sets (or with null removes) the per-project submit quota. */
  public setSubmitRateLimit(limit: SubmitRateLimit | null): void {
    this.vertex.rateLimit = limit ?? undefined;
  }

  /** Queues a fate for the next accepted submit (FIFO; one entry per submit). */
  public scriptNext(fate: Fate): void {
    this.vertex.fates.scriptNext(fate);
  }

  /**
   * Every submit whose prompt contains `substring` gets `fate` (checked before the queue and the default). Setting it
   * again for the same substring replaces the earlier fate (a retry can then succeed).
   */
  public fateForPrompt(substring: string, fate: Fate): void {
    this.vertex.fates.forPrompt(substring, fate);
  }

  public injectFault(fault: Fault): void {
    this.faults.inject(fault);
  }

  public clearFaults(): void {
    this.faults.clear();
  }

  /** Completes a running operation now with its fate's outcome (`never` completes as done). */
  public completeOperation(name: string): OperationRecord {
    return this.vertex.completeOperation(name);
  }

  /** Drops an operation: fetchPredictOperation answers 404 for it afterwards (its outputs stay in the bucket). */
  public forgetOperation(name: string): void {
    this.operations.delete(name);
  }

  /** fetchPredictOperation calls received for `name` (or in total) that reached an operation lookup. */
  public pollCount(name?: string): number {
    return this.vertex.pollCount(name);
  }

  /** HTTP submit calls received, including rejected and faulted ones. */
  public get submitCalls(): number {
    return this.requests.filter((r) => r.route === 'submit').length;
  }

  public get inFlight(): number {
    return this.vertex.inFlight;
  }

  /** Seconds of a video this emulator generated (its extension input length), or undefined. */
  public videoSecondsOf(gsUri: string): number | undefined {
    return this.vertex.videoSecondsOf(gsUri);
  }

  /** Lets tests expire signed URLs without waiting: the URL check uses real time + this offset. */
  public advanceSignedUrlClock(ms: number): void {
    this.gcs.signedUrlClockOffsetMs += ms;
  }

  /** Whether unsigned `GET /{bucket}/{object}` (public URLs) is served. */
  public setPublicRead(on: boolean): void {
    this.gcs.publicRead = on;
  }

  // ---------------------------------------------------------------- bucket helpers

  public putObject(name: string, data: Buffer, contentType = 'application/octet-stream'): StoredObject {
    return this.gcs.put(this.bucket, name, data, contentType);
  }

  /** An object as stored (with its synthetic download counters, if any). */
  public object(name: string): StoredObject | undefined {
    this.vertex.settleDue();
    return this.gcs.get(this.bucket, name);
  }

  public getObject(name: string): Buffer | undefined {
    this.vertex.settleDue();
    return this.gcs.get(this.bucket, name)?.data;
  }

  public listObjects(prefix = ''): StoredObject[] {
    this.vertex.settleDue();
    return this.gcs.list(this.bucket, prefix);
  }

  public deleteObject(name: string): boolean {
    return this.gcs.delete(this.bucket, name);
  }

  public static fakeMp4(size: number): Buffer {
    return fakeMp4(size);
  }
}

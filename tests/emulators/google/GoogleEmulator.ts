import { randomInt, randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FakeServiceAccount } from './credentials';
import { FakeGcs, fakeMp4, parseMultipart, type StoredObject, type SyntheticObjectOptions } from './gcs';
import { readBody, sendGoogleError, sendJson } from './http';
import { checkVeoInputs, EXTENSION_SECONDS, supportedDurations, type VeoFeature } from './veoInputs';

/**
 * What happens to an operation after it is accepted.
 * - `afterPolls: N`: the first N polls answer "running", poll N+1 answers the outcome (poll-driven; the output is
 *   written at that poll).
 * - without `afterPolls`: time-driven; the operation completes `afterMs` (default 0) after submit, whether or not
 *   anybody polls (a background tick writes the output into the bucket, as Veo does for a bot that crashed).
 * - with both: completes at the first poll after N polls once `afterMs` has passed.
 */
export type Fate =
  | {
      kind: 'done';
      afterPolls?: number;
      afterMs?: number;
      videoBytes?: number;
      /** write the output as a synthetic object instead (large, lying about its size, or slow to download) */
      syntheticOutput?: SyntheticObjectOptions;
    }
  | { kind: 'failed'; code: number; message: string; afterPolls?: number; afterMs?: number }
  | { kind: 'filtered'; reasons: string[]; afterPolls?: number; afterMs?: number }
  | { kind: 'never' };

export type FaultRoute = 'submit' | 'poll' | 'storage';
export type Fault =
  /** Answer with this HTTP error in Google's JSON shape instead of handling the request. */
  | { route: FaultRoute; status: 429 | 500 | 503 | 404 | 400; times?: number; message?: string }
  /** Accept the operation (a billed submit) and destroy the socket before answering. */
  | { route: 'submit'; kind: 'accept-then-drop'; times?: number }
  /** Read the request and never answer (the client times out). A hung submit creates no operation. */
  | { route: 'submit' | 'poll'; kind: 'hang'; times?: number };

export type OperationState = 'running' | 'done' | 'failed' | 'filtered';

export interface OperationRecord {
  name: string;
  project: string;
  location: string;
  model: string;
  prompt: string | undefined;
  instance: Record<string, unknown>;
  parameters: Record<string, unknown>;
  storageUri: string | undefined;
  fate: Fate;
  submittedAt: number;
  polls: number;
  state: OperationState;
  completedAt?: number;
  /** gs:// URIs written at completion. */
  outputs: string[];
  /** text_to_video, image_to_video (instances[0].image) or video_extension (instances[0].video) */
  feature: VeoFeature;
  /** Video extension: the seconds of the video it continues (its output is that plus EXTENSION_SECONDS). */
  inputSeconds?: number;
  error?: { code: number; message: string };
  raiReasons?: string[];
}

export interface SubmitRecord {
  operationName: string;
  model: string;
  instance: Record<string, unknown>;
  parameters: Record<string, unknown>;
  at: Date;
}

export interface RequestRecord {
  route: 'submit' | 'poll' | 'storage' | 'url' | 'other';
  method: string;
  /** The URL path (percent-encoding as sent), without the query. */
  path: string;
  /** 0 when the socket was dropped or the request hung. */
  status: number;
  /** Query parameters in the order sent, repeats kept. */
  query: [string, string][];
  /** The headers a conformance check reads (lower-case names, see RECORDED_HEADERS); `authorization` is only its scheme. */
  headers: Record<string, string>;
  /** Body size in bytes (filled in once the body has arrived). */
  bodyBytes: number;
  /** The parsed body when it was sent as JSON. */
  body?: unknown;
  /** The parts of a multipart body: their headers, sizes, and parsed JSON for JSON parts. */
  parts?: RecordedPart[];
  /** Why a body that said it was JSON (or multipart) could not be parsed. */
  bodyError?: string;
}

export interface RecordedPart {
  headers: Record<string, string>;
  bytes: number;
  json?: unknown;
}

/** Headers kept in RequestRecord.headers; never credentials (Authorization is reduced to its scheme). */
const RECORDED_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'content-encoding',
  'range',
  'x-upload-content-type',
  'x-upload-content-length',
  'x-goog-hash',
  'x-goog-user-project',
  'x-goog-api-client',
];

/**
 * The per-project submit quota (Veo 3.1: 50 requests per minute per project, /work/shared/reference/veo-vertex.md
 * §1.3): submits beyond `limit` within any `windowMs` (a sliding window, counted when a submit arrives) are answered
 * 429 RESOURCE_EXHAUSTED in Google's error shape, with the quota message Vertex AI gives
 * ("Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: …").
 * - `retryInfo` (default true): `details` carries `google.rpc.RetryInfo` with `retryDelay` (a protobuf Duration in
 *   JSON, e.g. "12.5s"): the time until the oldest counted submit leaves the window. The shape is that of
 *   googleapis/googleapis google/rpc/error_details.proto (RetryInfo: "Clients should wait until `retry_delay` amount of
 *   time has passed since receiving the error response before retrying") as Google's generative APIs send it
 *   (googleapis/python-genai issue #1875 quotes a 429 body with `"details": [{"@type":
 *   "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "53s"}]`). Some Vertex 429s carry no details
 *   (google-gemini/gemini-cli issue #14831): `retryInfo: false` answers that way.
 * - `retryAfterHeader` (default false): also a `Retry-After` header in whole seconds (RFC 9110 §10.2.3).
 * Refused submits create nothing and are not counted.
 */
export interface SubmitRateLimit {
  limit: number;
  windowMs: number;
  retryInfo?: boolean;
  retryAfterHeader?: boolean;
}

export interface GoogleEmulatorOptions {
  /** the per-project submit quota (none by default) */
  submitRateLimit?: SubmitRateLimit;
  project?: string;
  location?: string;
  bucket?: string;
  /** Models accepted by predictLongRunning (default: the Veo 3.1 GA pair). */
  models?: string[];
  defaultFate?: Fate;
  /** Size of generated videos when the fate does not say (default 256 KiB). */
  defaultVideoBytes?: number;
  /** Write outputs as `<storageUri>/<numeric folder>/sample_N.mp4` like real Veo (default true); false: `<storageUri>/sample_N.mp4`. */
  nestedOutputFolder?: boolean;
  /** Background completion tick for time-driven operations (default 20 ms). */
  tickMs?: number;
}

export const KNOWN_VEO_MODELS = ['veo-3.1-generate-001', 'veo-3.1-fast-generate-001'];
const RESPONSE_TYPE = 'type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse';
const VERTEX_ROUTE =
  /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):(predictLongRunning|fetchPredictOperation)$/;
const OPERATION_NAME =
  /^projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/]+)\/operations\/([^/]+)$/;
const KNOWN_PARAMETERS = new Set([
  'aspectRatio',
  'compressionQuality',
  'durationSeconds',
  'enhancePrompt',
  'fps',
  'generateAudio',
  'negativePrompt',
  'personGeneration',
  'pubsubTopic',
  'resizeMode',
  'resolution',
  'sampleCount',
  'seed',
  'storageUri',
]);

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
  public readonly operations = new Map<string, OperationRecord>();
  /** Accepted (billed) submits, in order. */
  public readonly submits: SubmitRecord[] = [];
  /** Every Vertex/Storage request the emulator answered (or dropped). */
  public readonly requests: RequestRecord[] = [];
  /** Most operations running at the same time. */
  public maxInFlight = 0;
  /** Sum of durationSeconds × sampleCount over accepted submits. */
  public billedSeconds = 0;
  /** Valid-JWT check failures (reasons only, never tokens). */
  public readonly authFailures: string[] = [];
  /** Submits answered 429 because of the submit quota (SubmitRateLimit), with when. */
  public readonly rateLimited: { at: Date; retryDelayMs: number }[] = [];
  private rateLimit: SubmitRateLimit | undefined;

  private readonly gcs: FakeGcs;
  private readonly models: Set<string>;
  private defaultFate: Fate;
  private readonly defaultVideoBytes: number;
  private readonly nested: boolean;
  private readonly fateQueue: Fate[] = [];
  private readonly promptFates: { substring: string; fate: Fate }[] = [];
  private faults: { fault: Fault; remaining: number }[] = [];
  private readonly pollsByName = new Map<string, number>();
  /** Seconds of every video this emulator generated, by gs:// URI: extension inputs must be Veo outputs. */
  private readonly videoSeconds = new Map<string, number>();
  private totalPolls = 0;
  private server!: Server;
  private tick?: NodeJS.Timeout;
  private port = 0;

  private constructor(opts: GoogleEmulatorOptions) {
    this.project = opts.project ?? 'veobot-test';
    this.location = opts.location ?? 'us-central1';
    this.bucket = opts.bucket ?? 'veobot-test-videos';
    this.models = new Set(opts.models ?? KNOWN_VEO_MODELS);
    this.defaultFate = opts.defaultFate ?? { kind: 'done' };
    this.defaultVideoBytes = opts.defaultVideoBytes ?? 256 * 1024;
    this.nested = opts.nestedOutputFolder ?? true;
    this.rateLimit = opts.submitRateLimit;
    this.account = new FakeServiceAccount(this.project);
    this.gcs = new FakeGcs(new Set([this.bucket]), () => this.baseUrl, this.account);
  }

  public static async start(opts: GoogleEmulatorOptions = {}): Promise<GoogleEmulator> {
    const emu = new GoogleEmulator(opts);
    emu.server = createServer((req, res) => {
      emu.dispatch(req, res).catch((err: unknown) => {
        if (!res.headersSent)
          sendGoogleError(res, 500, `emulator error: ${err instanceof Error ? err.message : String(err)}`);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      emu.server.once('error', reject);
      emu.server.listen(0, '127.0.0.1', () => resolve());
    });
    emu.port = (emu.server.address() as AddressInfo).port;
    emu.tick = setInterval(() => emu.settleDue(), opts.tickMs ?? 20);
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
    this.defaultFate = fate;
  }

  /** Sets (or with null removes) the per-project submit quota. */
  public setSubmitRateLimit(limit: SubmitRateLimit | null): void {
    this.rateLimit = limit ?? undefined;
  }

  /** Queues a fate for the next accepted submit (FIFO; one entry per submit). */
  public scriptNext(fate: Fate): void {
    this.fateQueue.push(fate);
  }

  /**
   * Every submit whose prompt contains `substring` gets `fate` (checked before the queue and the default). Setting it
   * again for the same substring replaces the earlier fate (a retry can then succeed).
   */
  public fateForPrompt(substring: string, fate: Fate): void {
    const rule = this.promptFates.find((r) => r.substring === substring);
    if (rule) rule.fate = fate;
    else this.promptFates.push({ substring, fate });
  }

  public injectFault(fault: Fault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  public clearFaults(): void {
    this.faults = [];
  }

  /** Completes a running operation now with its fate's outcome (`never` completes as done). */
  public completeOperation(name: string): OperationRecord {
    const op = this.operations.get(name);
    if (!op) throw new Error(`no such operation: ${name}`);
    if (op.state === 'running') this.complete(op);
    return op;
  }

  /** Drops an operation: fetchPredictOperation answers 404 for it afterwards (its outputs stay in the bucket). */
  public forgetOperation(name: string): void {
    this.operations.delete(name);
  }

  /** fetchPredictOperation calls received for `name` (or in total) that reached an operation lookup. */
  public pollCount(name?: string): number {
    return name === undefined ? this.totalPolls : (this.pollsByName.get(name) ?? 0);
  }

  /** HTTP submit calls received, including rejected and faulted ones. */
  public get submitCalls(): number {
    return this.requests.filter((r) => r.route === 'submit').length;
  }

  public get inFlight(): number {
    let n = 0;
    for (const op of this.operations.values()) if (op.state === 'running') n++;
    return n;
  }

  /** Seconds of a video this emulator generated (its extension input length), or undefined. */
  public videoSecondsOf(gsUri: string): number | undefined {
    return this.videoSeconds.get(gsUri);
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
    this.settleDue();
    return this.gcs.get(this.bucket, name);
  }

  public getObject(name: string): Buffer | undefined {
    this.settleDue();
    return this.gcs.get(this.bucket, name)?.data;
  }

  public listObjects(prefix = ''): StoredObject[] {
    this.settleDue();
    return this.gcs.list(this.bucket, prefix);
  }

  public deleteObject(name: string): boolean {
    return this.gcs.delete(this.bucket, name);
  }

  public static fakeMp4(size: number): Buffer {
    return fakeMp4(size);
  }

  // ---------------------------------------------------------------- HTTP

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.settleDue();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
    const url = new URL(rawUrl, this.baseUrl);
    const method = req.method ?? 'GET';

    const vm = VERTEX_ROUTE.exec(url.pathname);
    if (vm) {
      const route = vm[5] === 'predictLongRunning' ? 'submit' : 'poll';
      this.track(req, res, route, url.pathname);
      if (method !== 'POST') return sendGoogleError(res, 404, `Method ${method} is not allowed on ${url.pathname}`);
      const body = await readBody(req);
      const authProblem = this.account.verifyBearer(req.headers.authorization);
      if (authProblem) {
        this.authFailures.push(authProblem);
        return sendGoogleError(res, 401);
      }
      const fault = this.takeFault(route);
      if (fault && 'status' in fault) return sendGoogleError(res, fault.status, fault.message);
      if (fault && fault.kind === 'hang') return;
      const [, , project, location, model] = vm as unknown as [string, string, string, string, string];
      if (route === 'submit')
        return this.submit(res, project, location, model, body, fault?.kind === 'accept-then-drop');
      return this.poll(res, project, location, model, body);
    }

    if (this.gcs.isApiRoute(url.pathname)) {
      this.track(req, res, 'storage', url.pathname);
      const fault = this.takeFault('storage');
      if (fault && 'status' in fault) {
        await readBody(req);
        return sendJson(res, fault.status, {
          error: {
            code: fault.status,
            message: fault.message ?? 'Injected fault',
            errors: [{ message: fault.message ?? 'Injected fault', domain: 'global', reason: 'backendError' }],
          },
        });
      }
      return this.gcs.handleApi(req, res, url);
    }

    if ((method === 'GET' || method === 'HEAD') && /^\/[^/]+\/.+/.test(rawPath)) {
      this.track(req, res, 'url', url.pathname);
      return this.gcs.handleXmlGet(req, res, url, rawPath, rawQuery);
    }

    this.track(req, res, 'other', url.pathname);
    await readBody(req);
    sendGoogleError(res, 404, `The requested URL ${url.pathname} was not found on this server.`);
  }

  private track(req: IncomingMessage, res: ServerResponse, route: RequestRecord['route'], path: string): void {
    const headers: Record<string, string> = {};
    for (const name of RECORDED_HEADERS) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    const auth = req.headers.authorization;
    if (auth) headers.authorization = auth.split(' ')[0] ?? '';
    const url = new URL(req.url ?? '/', this.baseUrl);
    const rec: RequestRecord = {
      route,
      method: req.method ?? 'GET',
      path,
      status: 0,
      query: [...url.searchParams],
      headers,
      bodyBytes: 0,
    };
    this.requests.push(rec);
    res.on('finish', () => {
      rec.status = res.statusCode;
    });
    // The body is memoised by readBody, so the handlers still get it; a body that never arrives leaves these empty.
    readBody(req).then(
      (body) => recordBody(rec, body),
      () => undefined,
    );
  }

  private takeFault(route: FaultRoute): Fault | undefined {
    const entry = this.faults.find((f) => f.fault.route === route && f.remaining > 0);
    if (!entry) return undefined;
    entry.remaining -= 1;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return entry.fault;
  }

  private submit(
    res: ServerResponse,
    project: string,
    location: string,
    model: string,
    body: Buffer,
    drop: boolean,
  ): void {
    if (project !== this.project) {
      return sendGoogleError(
        res,
        403,
        `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${project}/locations/${location}/publishers/google/models/${model}' (or it may not exist).`,
      );
    }
    if (!this.models.has(model)) {
      return sendGoogleError(
        res,
        404,
        `Publisher Model \`projects/${project}/locations/${location}/publishers/google/models/${model}\` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions`,
      );
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return sendGoogleError(res, 400, 'Invalid JSON payload received. Unexpected token.');
    }
    const invalid = validateSubmit(payload, this.gcs.buckets);
    if (invalid) return sendGoogleError(res, 400, invalid);
    if (this.quotaExhausted(res, model)) return;
    const p = payload as { instances: Record<string, unknown>[]; parameters?: Record<string, unknown> };
    const instance = p.instances[0]!;
    const parameters = p.parameters ?? {};
    const inputs = checkVeoInputs(instance, parameters, {
      model,
      object: (uri) => {
        const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
        return m ? this.gcs.get(m[1]!, m[2]!) : undefined;
      },
      videoSeconds: (uri) => this.videoSeconds.get(uri),
    });
    if (typeof inputs === 'string') return sendGoogleError(res, 400, inputs);
    const durations = supportedDurations(inputs.feature);
    if (parameters.durationSeconds !== undefined && !durations.includes(parameters.durationSeconds as number)) {
      return sendGoogleError(
        res,
        400,
        `Unsupported output video duration ${String(parameters.durationSeconds)} seconds, supported durations are [${durations.join(',')}] for feature ${inputs.feature}.`,
      );
    }
    const prompt = typeof instance.prompt === 'string' ? instance.prompt : undefined;
    const name = `projects/${project}/locations/${location}/publishers/google/models/${model}/operations/${randomUUID()}`;
    const op: OperationRecord = {
      name,
      project,
      location,
      model,
      prompt,
      instance,
      parameters,
      storageUri: typeof parameters.storageUri === 'string' ? parameters.storageUri : undefined,
      fate: this.pickFate(prompt),
      submittedAt: Date.now(),
      polls: 0,
      state: 'running',
      outputs: [],
      feature: inputs.feature,
      ...(inputs.inputSeconds !== undefined ? { inputSeconds: inputs.inputSeconds } : {}),
    };
    this.operations.set(name, op);
    this.submits.push({ operationName: name, model, instance, parameters, at: new Date(op.submittedAt) });
    const generated = inputs.feature === 'video_extension' ? EXTENSION_SECONDS : 8;
    this.billedSeconds += Number(parameters.durationSeconds ?? generated) * Number(parameters.sampleCount ?? 1);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (drop) {
      res.socket?.destroy();
      return;
    }
    sendJson(res, 200, { name });
  }

  /** Answers 429 when the submit quota is used up within its window (SubmitRateLimit); true when it did. */
  private quotaExhausted(res: ServerResponse, model: string): boolean {
    const limit = this.rateLimit;
    if (!limit) return false;
    const now = Date.now();
    const inWindow = this.submits.filter((s) => now - s.at.getTime() < limit.windowMs);
    if (inWindow.length < limit.limit) return false;
    const retryDelayMs = Math.max(1, inWindow[0]!.at.getTime() + limit.windowMs - now);
    this.rateLimited.push({ at: new Date(now), retryDelayMs });
    const baseModel = model.replace(/-\d{3}$/, '');
    sendGoogleError(
      res,
      429,
      `Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: ${baseModel}. Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.`,
      limit.retryInfo === false
        ? undefined
        : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${(retryDelayMs / 1000).toFixed(3)}s` }],
      limit.retryAfterHeader ? { 'retry-after': String(Math.ceil(retryDelayMs / 1000)) } : {},
    );
    return true;
  }

  private pickFate(prompt: string | undefined): Fate {
    const rule = prompt === undefined ? undefined : this.promptFates.find((r) => prompt.includes(r.substring));
    if (rule) return rule.fate;
    return this.fateQueue.shift() ?? this.defaultFate;
  }

  private poll(res: ServerResponse, project: string, location: string, model: string, body: Buffer): void {
    this.totalPolls += 1;
    let payload: { operationName?: unknown };
    try {
      payload = JSON.parse(body.toString('utf8')) as typeof payload;
    } catch {
      return sendGoogleError(res, 400, 'Invalid JSON payload received. Unexpected token.');
    }
    const name = payload?.operationName;
    if (typeof name !== 'string' || name === '') return sendGoogleError(res, 400, 'operationName is required.');
    const nm = OPERATION_NAME.exec(name);
    if (!nm) return sendGoogleError(res, 400, `Invalid operation name: ${name}`);
    if (nm[1] !== project || nm[2] !== location || nm[3] !== model) {
      return sendGoogleError(
        res,
        400,
        `Operation ${name} does not belong to projects/${project}/locations/${location}/publishers/google/models/${model}.`,
      );
    }
    const op = this.operations.get(name);
    this.pollsByName.set(name, (this.pollsByName.get(name) ?? 0) + 1);
    if (!op) return sendGoogleError(res, 404, `Operation "${name}" not found.`);
    if (op.state === 'running') {
      op.polls += 1;
      if (this.pollDue(op)) this.complete(op);
    }
    sendJson(res, 200, this.operationJson(op));
  }

  private operationJson(op: OperationRecord): Record<string, unknown> {
    switch (op.state) {
      case 'running':
        return { name: op.name };
      case 'failed':
        return { name: op.name, done: true, error: op.error };
      case 'filtered':
        return {
          name: op.name,
          done: true,
          response: {
            '@type': RESPONSE_TYPE,
            raiMediaFilteredCount: op.raiReasons?.length || 1,
            raiMediaFilteredReasons: op.raiReasons,
          },
        };
      case 'done':
        return {
          name: op.name,
          done: true,
          response: {
            '@type': RESPONSE_TYPE,
            raiMediaFilteredCount: 0,
            videos: op.outputs.map((gcsUri) => ({ gcsUri, mimeType: 'video/mp4' })),
          },
        };
    }
  }

  /** Poll-driven check, called after the poll counter went up. */
  private pollDue(op: OperationRecord): boolean {
    const f = op.fate;
    if (f.kind === 'never') return false;
    const pollsOk = f.afterPolls === undefined || op.polls > f.afterPolls;
    const timeOk = f.afterMs === undefined || Date.now() - op.submittedAt >= f.afterMs;
    return pollsOk && timeOk;
  }

  /** Completes time-driven operations whose time has come, polled or not. */
  private settleDue(): void {
    const now = Date.now();
    for (const op of this.operations.values()) {
      const f = op.fate;
      if (op.state !== 'running' || f.kind === 'never' || f.afterPolls !== undefined) continue;
      if (now - op.submittedAt >= (f.afterMs ?? 0)) this.complete(op);
    }
  }

  private complete(op: OperationRecord): void {
    op.completedAt = Date.now();
    const f = op.fate;
    if (f.kind === 'failed') {
      op.state = 'failed';
      op.error = { code: f.code, message: f.message };
      return;
    }
    if (f.kind === 'filtered') {
      op.state = 'filtered';
      op.raiReasons = [...f.reasons];
      return;
    }
    if (!op.storageUri) {
      op.state = 'failed';
      op.error = { code: 3, message: 'Generated video is large, an output storage uri is required.' };
      return;
    }
    const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(op.storageUri)!;
    const bucket = m[1]!;
    let prefix = m[2] ?? '';
    if (prefix && !prefix.endsWith('/')) prefix += '/';
    if (this.nested) prefix += `${randomInt(1e9, 2 ** 47)}${randomInt(1e5, 1e6)}/`;
    const bytes = f.kind === 'done' && f.videoBytes !== undefined ? f.videoBytes : this.defaultVideoBytes;
    const count = Number(op.parameters.sampleCount ?? 1);
    for (let i = 0; i < count; i++) {
      const name = `${prefix}sample_${i}.mp4`;
      if (f.kind === 'done' && f.syntheticOutput) this.gcs.putSynthetic(bucket, name, f.syntheticOutput);
      else this.gcs.put(bucket, name, fakeMp4(bytes), 'video/mp4');
      op.outputs.push(`gs://${bucket}/${name}`);
      // An extension returns the earlier video with its new seconds (up to 37 s in all).
      const own = Number(op.parameters.durationSeconds ?? (op.feature === 'video_extension' ? EXTENSION_SECONDS : 8));
      this.videoSeconds.set(`gs://${bucket}/${name}`, (op.inputSeconds ?? 0) + own);
    }
    op.state = 'done';
  }
}

/** Fills in what a conformance check needs of the body: JSON parsed, multipart split, media only counted. */
function recordBody(rec: RequestRecord, body: Buffer): void {
  rec.bodyBytes = body.length;
  if (!body.length) return;
  const type = (rec.headers['content-type'] ?? '').toLowerCase();
  const isJson = (t: string) => /^application\/(?:[\w.+-]+\+)?json\b/.test(t);
  if (isJson(type)) {
    try {
      rec.body = JSON.parse(body.toString('utf8'));
    } catch (e) {
      rec.bodyError = `invalid JSON: ${e instanceof Error ? e.message : String(e)}`;
    }
  } else if (type.startsWith('multipart/')) {
    const parts = parseMultipart(rec.headers['content-type'] ?? '', body);
    if (!parts) {
      rec.bodyError = 'unparseable multipart body';
      return;
    }
    rec.parts = parts.map((p) => {
      const part: RecordedPart = { headers: p.headers, bytes: p.body.length };
      if (isJson((p.headers['content-type'] ?? '').toLowerCase())) {
        try {
          part.json = JSON.parse(p.body.toString('utf8'));
        } catch (e) {
          rec.bodyError = `invalid JSON in a multipart part: ${e instanceof Error ? e.message : String(e)}`;
        }
      }
      return part;
    });
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns a Google-style INVALID_ARGUMENT message, or null when the predictLongRunning body is acceptable. */
function validateSubmit(payload: unknown, buckets: Set<string>): string | null {
  if (!isPlainObject(payload)) return 'Invalid JSON payload received. Expected an object.';
  const instances = payload.instances;
  if (!Array.isArray(instances) || instances.length === 0) return 'instances is required and must be a non-empty list.';
  if (instances.length !== 1) return `Only one instance is supported per request, but got ${instances.length}.`;
  const inst = instances[0] as unknown;
  if (!isPlainObject(inst)) return "Invalid value at 'instances[0]': expected an object.";
  if (inst.prompt !== undefined && typeof inst.prompt !== 'string')
    return "Invalid value at 'instances[0].prompt' (TYPE_STRING).";
  if (
    (typeof inst.prompt !== 'string' || inst.prompt.trim() === '') &&
    inst.image === undefined &&
    inst.video === undefined
  ) {
    return 'The prompt is empty. Provide a text prompt or an input image.';
  }
  if (payload.parameters === undefined) return null;
  const p = payload.parameters;
  if (!isPlainObject(p)) return "Invalid value at 'parameters': expected an object.";
  for (const key of Object.keys(p)) {
    if (!KNOWN_PARAMETERS.has(key))
      return `Invalid JSON payload received. Unknown name "${key}" at 'parameters': Cannot find field.`;
  }
  const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
  // Which durations are supported depends on the feature (checkVeoInputs / supportedDurations); the type is checked here.
  if (p.durationSeconds !== undefined && !isInt(p.durationSeconds)) {
    return `Invalid value at 'parameters.duration_seconds' (TYPE_INT32), ${JSON.stringify(p.durationSeconds)}`;
  }
  if (p.sampleCount !== undefined && (!isInt(p.sampleCount) || p.sampleCount < 1 || p.sampleCount > 4)) {
    return `sampleCount must be an integer from 1 to 4, got ${JSON.stringify(p.sampleCount)}.`;
  }
  if (p.aspectRatio !== undefined && p.aspectRatio !== '16:9' && p.aspectRatio !== '9:16') {
    return `Unsupported aspect ratio ${JSON.stringify(p.aspectRatio)}; supported: 16:9, 9:16.`;
  }
  if (p.resolution !== undefined && p.resolution !== '720p' && p.resolution !== '1080p') {
    return `Unsupported resolution ${JSON.stringify(p.resolution)}; supported: 720p, 1080p.`;
  }
  if (p.seed !== undefined && (!isInt(p.seed) || p.seed < 0 || p.seed > 4294967295)) {
    return `Invalid value at 'parameters.seed' (TYPE_UINT32), ${JSON.stringify(p.seed)}`;
  }
  for (const key of ['generateAudio', 'enhancePrompt'] as const) {
    if (p[key] !== undefined && typeof p[key] !== 'boolean')
      return `Invalid value at 'parameters.${key}' (TYPE_BOOL), ${JSON.stringify(p[key])}`;
  }
  for (const key of ['negativePrompt', 'compressionQuality', 'resizeMode', 'pubsubTopic'] as const) {
    if (p[key] !== undefined && typeof p[key] !== 'string')
      return `Invalid value at 'parameters.${key}' (TYPE_STRING), ${JSON.stringify(p[key])}`;
  }
  if (
    p.personGeneration !== undefined &&
    !['allow_adult', 'dont_allow', 'allow_all'].includes(String(p.personGeneration))
  ) {
    return `Unsupported personGeneration ${JSON.stringify(p.personGeneration)}.`;
  }
  if (p.storageUri !== undefined) {
    const m =
      typeof p.storageUri === 'string'
        ? /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(\/.*)?$/.exec(p.storageUri)
        : null;
    if (!m) return `Invalid storageUri ${JSON.stringify(p.storageUri)}: expected gs://bucket/prefix/.`;
    if (!buckets.has(m[1]!))
      return `Cloud Storage bucket ${m[1]} does not exist or the Vertex AI service agent cannot write to it.`;
  }
  return null;
}

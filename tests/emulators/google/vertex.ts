// Vertex AI Veo: predictLongRunning (checks, the submit quota, billing) and fetchPredictOperation, over operations that
// run on their own clock and write their outputs into the emulator's bucket (/work/shared/reference/veo-vertex.md §1).
import { randomInt, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { dueAtPoll, dueByTime, FateBook } from './fates';
import { fakeMp4, type FakeGcs } from './gcs';
import { sendGoogleError, sendJson } from './http';
import type { Fate, OperationRecord, SubmitRateLimit, SubmitRecord } from './types';
import { checkVeoInputs, EXTENSION_SECONDS, supportedDurations } from './veoInputs';
import { validateSubmit } from './vertexValidation';

export const KNOWN_VEO_MODELS = ['veo-3.1-generate-001', 'veo-3.1-fast-generate-001'];
const RESPONSE_TYPE = 'type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse';
/** `/{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:{method}` */
export const VERTEX_ROUTE =
  /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):(predictLongRunning|fetchPredictOperation)$/;
const OPERATION_NAME =
  /^projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/]+)\/operations\/([^/]+)$/;

export interface VertexSettings {
  project: string;
  models: string[];
  defaultFate: Fate;
  defaultVideoBytes: number;
  nestedOutputFolder: boolean;
  submitRateLimit: SubmitRateLimit | undefined;
}

export class FakeVertex {
  public readonly operations = new Map<string, OperationRecord>();
  /** Accepted (billed) submits, in order. */
  public readonly submits: SubmitRecord[] = [];
  /** Most operations running at the same time. */
  public maxInFlight = 0;
  /** Sum of durationSeconds × sampleCount over accepted submits. */
  public billedSeconds = 0;
  /** Submits answered 429 because of the submit quota (SubmitRateLimit), with when. */
  public readonly rateLimited: { at: Date; retryDelayMs: number }[] = [];
  public rateLimit: SubmitRateLimit | undefined;
  public readonly fates: FateBook;

  private readonly project: string;
  private readonly models: Set<string>;
  private readonly defaultVideoBytes: number;
  private readonly nested: boolean;
  private readonly pollsByName = new Map<string, number>();
  /** Seconds of every video this emulator generated, by gs:// URI: extension inputs must be Veo outputs. */
  private readonly videoSeconds = new Map<string, number>();
  private totalPolls = 0;

  public constructor(
    settings: VertexSettings,
    private readonly gcs: FakeGcs,
  ) {
    this.project = settings.project;
    this.models = new Set(settings.models);
    this.fates = new FateBook(settings.defaultFate);
    this.defaultVideoBytes = settings.defaultVideoBytes;
    this.nested = settings.nestedOutputFolder;
    this.rateLimit = settings.submitRateLimit;
  }

  /** Completes a running operation now with its fate's outcome (`never` completes as done). */
  public completeOperation(name: string): OperationRecord {
    const op = this.operations.get(name);
    if (!op) throw new Error(`no such operation: ${name}`);
    if (op.state === 'running') this.complete(op);
    return op;
  }

  /** fetchPredictOperation calls received for `name` (or in total) that reached an operation lookup. */
  public pollCount(name?: string): number {
    return name === undefined ? this.totalPolls : (this.pollsByName.get(name) ?? 0);
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

  /** Completes time-driven operations whose time has come, polled or not. */
  public settleDue(): void {
    const now = Date.now();
    for (const op of this.operations.values()) if (dueByTime(op, now)) this.complete(op);
  }

  /** predictLongRunning; `drop`: accept (and bill) the operation, then destroy the socket instead of answering. */
  public submit(
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
      fate: this.fates.pick(prompt),
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

  /** fetchPredictOperation: the operation as it stands (a poll-driven one may complete at this poll). */
  public poll(res: ServerResponse, project: string, location: string, model: string, body: Buffer): void {
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
      if (dueAtPoll(op)) this.complete(op);
    }
    sendJson(res, 200, this.operationJson(op));
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

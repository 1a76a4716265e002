// The Google emulator's public types (re-exported by GoogleEmulator.ts and index.ts).
import type { SyntheticObjectOptions } from './gcs';
import type { VeoFeature } from './veoInputs';

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
  /**
   * The headers a conformance check reads (lower-case names, RECORDED_HEADERS in recorder.ts); `authorization` is only
   * its scheme.
   */
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

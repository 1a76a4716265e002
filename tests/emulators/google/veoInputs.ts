// Veo's media inputs as Vertex AI checks them: `instances[0].image` (first frame), `instances[0].lastFrame` and
// `instances[0].video` (extension of an earlier Veo output), and the parameters each feature allows.
//
// Sources:
// - Field shapes: the predictLongRunning request of the Veo model reference
//   (cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation): `image`, `lastFrame`,
//   `video` each hold a union of `bytesBase64Encoded` | `gcsUri` ("can be only one of the following") plus `mimeType`;
//   @google/genai 2.32 sends exactly these (imageToVertex / videoToVertex in dist/node/index.cjs).
// - `lastFrame` "Only supported for image to video use cases"; `image` "Not allowed if video is provided"
//   (@google/genai 2.32 dist/genai.d.ts, GenerateVideosConfig.lastFrame and GenerateVideosSource).
// - Image size: at most 20 MB (/work/shared/reference/veo-vertex.md §1.3, Veo 2 model page); read as 20,000,000
//   bytes. Types: PNG and JPEG per Google's image-to-video page, WebP as issue #16 asks (the emulator checks the bytes
//   against the declared mimeType, as a decoder would).
// - Extension (docs.cloud.google.com/gemini-enterprise-agent-platform/models/video/extend-videos): models
//   veo-3.1-generate-001 and veo-3.1-fast-generate-001; the input is a Veo-generated MP4 of 1 to 30 seconds, 16:9 or
//   9:16; "can be extended by 7 seconds"; the model card lists 1080p "except for video extension".
// What Google answers for an unreadable gs:// object is not documented: a 400 INVALID_ARGUMENT naming the object is the
// emulator's reading (the request cannot be served; nothing is billed).
import type { StoredObject } from './gcs';

export const VEO_IMAGE_MAX_BYTES = 20_000_000;
export const VEO_IMAGE_MIME_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
export const EXTENDING_MODELS = ['veo-3.1-generate-001', 'veo-3.1-fast-generate-001'];
export const EXTENSION_SECONDS = 7;
export const EXTENSION_INPUT_SECONDS = { min: 1, max: 30 };
/** Fields of `instances[0]` the Veo API knows (model reference). */
export const KNOWN_INSTANCE_FIELDS = new Set(['prompt', 'image', 'lastFrame', 'video', 'referenceImages', 'mask']);

export type VeoFeature = 'text_to_video' | 'image_to_video' | 'video_extension';

export interface InputContext {
  model: string;
  /** An object of the emulator's storage, by gs:// URI (undefined: no such object). */
  object(uri: string): StoredObject | undefined;
  /** Seconds of a video the emulator generated (undefined: not a Veo output). */
  videoSeconds(uri: string): number | undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function sniffImage(bytes: Buffer): string | null {
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))) return 'image/jpeg';
  if (bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The bytes a media field names (inline or in the bucket), or the 400 message that refuses it. */
function mediaBytes(
  field: string,
  value: unknown,
  ctx: InputContext,
): { bytes: Buffer; mimeType: string; uri?: string } | string {
  if (!isPlainObject(value)) return `Invalid value at 'instances[0].${field}': expected an object.`;
  for (const key of Object.keys(value)) {
    if (!['bytesBase64Encoded', 'gcsUri', 'mimeType'].includes(key))
      return `Invalid JSON payload received. Unknown name "${key}" at 'instances[0].${field}': Cannot find field.`;
  }
  const inline = value.bytesBase64Encoded;
  const uri = value.gcsUri;
  if ((inline === undefined) === (uri === undefined)) {
    return `instances[0].${field} must set exactly one of bytesBase64Encoded or gcsUri.`;
  }
  if (typeof value.mimeType !== 'string' || value.mimeType === '') return `instances[0].${field}.mimeType is required.`;
  const mimeType = value.mimeType;
  if (inline !== undefined) {
    if (typeof inline !== 'string' || !BASE64.test(inline) || inline.length % 4 !== 0)
      return `Invalid value at 'instances[0].${field}.bytes_base64_encoded' (TYPE_BYTES), Base64 decoding failed.`;
    return { bytes: Buffer.from(inline, 'base64'), mimeType };
  }
  if (typeof uri !== 'string' || !/^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\/.+$/.test(uri))
    return `Invalid value at 'instances[0].${field}.gcs_uri': ${JSON.stringify(uri)} is not a gs://bucket/object URI.`;
  const object = ctx.object(uri);
  if (!object) return `Unable to read ${uri} for instances[0].${field}: the object does not exist.`;
  return { bytes: object.data, mimeType, uri };
}

function checkImage(field: 'image' | 'lastFrame', value: unknown, ctx: InputContext): string | null {
  const media = mediaBytes(field, value, ctx);
  if (typeof media === 'string') return media;
  if (!VEO_IMAGE_MIME_TYPES.includes(media.mimeType))
    return `Unsupported mimeType ${JSON.stringify(media.mimeType)} for instances[0].${field}; supported: ${VEO_IMAGE_MIME_TYPES.join(', ')}.`;
  if (media.bytes.length > VEO_IMAGE_MAX_BYTES)
    return `instances[0].${field} is ${media.bytes.length} bytes; the maximum image size is 20 MB.`;
  const actual = sniffImage(media.bytes);
  if (actual !== media.mimeType)
    return `instances[0].${field} could not be decoded as ${media.mimeType}${actual ? ` (it is ${actual})` : ''}.`;
  return null;
}

/** The extension input: an earlier Veo output of 1 to 30 seconds. Returns its seconds, or the refusal. */
function checkVideo(value: unknown, ctx: InputContext): number | string {
  const media = mediaBytes('video', value, ctx);
  if (typeof media === 'string') return media;
  if (media.mimeType !== 'video/mp4')
    return `Unsupported mimeType ${JSON.stringify(media.mimeType)} for instances[0].video; supported: video/mp4.`;
  const seconds = media.uri ? ctx.videoSeconds(media.uri) : undefined;
  if (seconds === undefined) return 'instances[0].video must be a video previously generated by Veo.';
  if (seconds < EXTENSION_INPUT_SECONDS.min || seconds > EXTENSION_INPUT_SECONDS.max)
    return `The input video is ${seconds} seconds long; video extension takes videos of 1 to 30 seconds.`;
  return seconds;
}

/**
 * Checks the media inputs of `instances[0]` and what the feature they select allows of `parameters`. Returns the
 * feature (and for an extension the input's seconds), or Google's 400 message.
 */
export function checkVeoInputs(
  instance: Record<string, unknown>,
  parameters: Record<string, unknown>,
  ctx: InputContext,
): { feature: VeoFeature; inputSeconds?: number } | string {
  for (const key of Object.keys(instance)) {
    if (!KNOWN_INSTANCE_FIELDS.has(key))
      return `Invalid JSON payload received. Unknown name "${key}" at 'instances[0]': Cannot find field.`;
  }
  if (instance.image !== undefined && instance.video !== undefined)
    return 'instances[0].image and instances[0].video cannot be used together.';
  if (instance.lastFrame !== undefined && instance.image === undefined)
    return 'instances[0].lastFrame is only supported for image to video: set instances[0].image as well.';
  for (const field of ['image', 'lastFrame'] as const) {
    if (instance[field] === undefined) continue;
    const problem = checkImage(field, instance[field], ctx);
    if (problem) return problem;
  }
  if (instance.video === undefined)
    return { feature: instance.image === undefined ? 'text_to_video' : 'image_to_video' };

  if (!EXTENDING_MODELS.includes(ctx.model)) return `Video extension is not supported by model ${ctx.model}.`;
  const seconds = checkVideo(instance.video, ctx);
  if (typeof seconds === 'string') return seconds;
  if (parameters.resolution === '1080p') return 'Resolution 1080p is not supported for video extension; use 720p.';
  return { feature: 'video_extension', inputSeconds: seconds };
}

/** The durations each feature supports (Google words the refusal per feature). */
export function supportedDurations(feature: VeoFeature): number[] {
  return feature === 'video_extension' ? [EXTENSION_SECONDS] : [8, 6, 4];
}

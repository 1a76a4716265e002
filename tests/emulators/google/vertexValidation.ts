// The field rules of a predictLongRunning body (instances, parameters) that Vertex AI answers 400 INVALID_ARGUMENT
// for; the media inputs and per-feature durations are checked in veoInputs.ts. Field list and value ranges: the Veo
// model reference and VideoGenerationModelParams (/work/shared/reference/veo-vertex.md §1.1, §1.3); sources per rule in
// README.md.

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

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns a Google-style INVALID_ARGUMENT message, or null when the predictLongRunning body is acceptable. */
export function validateSubmit(payload: unknown, buckets: Set<string>): string | null {
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

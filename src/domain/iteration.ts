/**
 * Iterating from a result (issue #16): which buttons a result offers, and the request each press makes. A press is a
 * new request of its own (its own row, quota and budgets), linked to the one it came from.
 *
 * Veo facts used here (sources in /work/shared/reference/veo-vertex.md and Google's "Extend videos" page,
 * docs.cloud.google.com/gemini-enterprise-agent-platform/models/video/extend-videos): only the Veo 3.1 GA models extend
 * videos; the input is an earlier Veo output of 1 to 30 seconds, 16:9 or 9:16; each extension adds 7 seconds; the
 * extended video is 720p (the model card: "1080, except for video extension").
 */
import {
  pendingImages,
  type AspectRatio,
  type ImageMimeType,
  type ImageSource,
  type RequestOrigin,
  type Resolution,
  type VideoRequestRow,
} from './request';

export const EXTENSION_SECONDS = 7;
export const EXTENSION_MAX_INPUT_SECONDS = 30;
export const EXTENDABLE_MODELS = ['veo-3.1-generate-001', 'veo-3.1-fast-generate-001'] as const;
/** Seeds are uint32 (Veo's `parameters.seed`). */
export const SEED_RANGE = 4_294_967_296;

/** Everything a new request needs, whether it came from `/video` or from a button. */
export interface VideoSpec {
  prompt: string;
  /** 4, 6 or 8; EXTENSION_SECONDS for an extension */
  durationSeconds: number;
  aspectRatio: AspectRatio;
  resolution: Resolution;
  generateAudio: boolean;
  negativePrompt: string | null;
  seed: number | null;
  /** the parent's model for a press (never switched silently); VEO_MODEL when absent */
  model?: string | null;
  image?: { uri: string; mimeType: ImageMimeType } | null;
  lastFrame?: { uri: string; mimeType: ImageMimeType } | null;
  /** images still to be fetched from Discord (`/video image:`; the worker stores them before any submit) */
  imageSource?: ImageSource | null;
  lastFrameSource?: ImageSource | null;
  sourceVideo?: { uri: string; seconds: number } | null;
}

/** Where a press came from: the parent request, the button, and which press of it (a button is used once per seq). */
export interface Origin {
  parentId: string;
  kind: RequestOrigin;
  seq: number;
}

/** How long the video a request makes is: an extension returns the earlier video and its 7 new seconds. */
export function outputSeconds(row: Pick<VideoRequestRow, 'durationSeconds' | 'sourceVideoSeconds'>): number {
  const own = row.durationSeconds ?? 8;
  return row.sourceVideoSeconds !== null && row.sourceVideoSeconds !== undefined ? row.sourceVideoSeconds + own : own;
}

/** Veo can extend this video: a finished video of a model that extends, short enough to be an input. */
export function canExtend(
  row: Pick<
    VideoRequestRow,
    'status' | 'model' | 'videoUrls' | 'aspectRatio' | 'durationSeconds' | 'sourceVideoSeconds'
  >,
): boolean {
  return (
    row.status === 'completed' &&
    !!row.videoUrls?.[0] &&
    (EXTENDABLE_MODELS as readonly string[]).includes(row.model ?? '') &&
    (row.aspectRatio === '16:9' || row.aspectRatio === '9:16') &&
    outputSeconds(row) <= EXTENSION_MAX_INPUT_SECONDS
  );
}

export function isCancelled(row: Pick<VideoRequestRow, 'failureKind'>): boolean {
  return row.failureKind === 'cancelled';
}

/** A request may be cancelled until a submit attempt is recorded (Google may bill anything after that). */
export function isCancellable(row: Pick<VideoRequestRow, 'status' | 'submitAttempts'>): boolean {
  return row.status === 'pending' && row.submitAttempts === 0;
}

/**
 * Veo's filter stopped the audio, not the picture: its reasons (free text, "… Support codes: …") name the audio. A
 * retry then turns audio off, which is what the reason asks for.
 */
export function audioWasFiltered(
  row: Pick<VideoRequestRow, 'failureKind' | 'errorMessage' | 'generateAudio'>,
): boolean {
  return row.failureKind === 'filtered' && row.generateAudio !== false && /\baudio\b/i.test(row.errorMessage ?? '');
}

/** The buttons a finished request's result offers. */
export interface ResultActions {
  reroll: boolean;
  extend: boolean;
  edit: boolean;
  /** on a failure: retry as it was, or (the filter stopped the audio) without audio */
  retry: false | 'as_is' | 'audio_off';
}

export function resultActions(
  row: Pick<
    VideoRequestRow,
    | 'status'
    | 'failureKind'
    | 'errorMessage'
    | 'generateAudio'
    | 'model'
    | 'videoUrls'
    | 'aspectRatio'
    | 'durationSeconds'
    | 'sourceVideoSeconds'
    | 'prompt'
  >,
): ResultActions {
  if (row.status === 'completed') return { reroll: true, extend: canExtend(row), edit: true, retry: false };
  // An input image that is not one Veo takes, or is gone from Discord, fails the same way again: a new /video it is.
  if ((row.status === 'failed' || row.status === 'timeout') && !isCancelled(row) && row.failureKind !== 'input') {
    return { reroll: false, extend: false, edit: true, retry: audioWasFiltered(row) ? 'audio_off' : 'as_is' };
  }
  return { reroll: false, extend: false, edit: false, retry: false };
}

/** The settings of a stored request, as a spec a new request can start from. */
export function specOf(row: VideoRequestRow): VideoSpec {
  return {
    prompt: row.prompt,
    durationSeconds: row.durationSeconds ?? 8,
    aspectRatio: row.aspectRatio,
    resolution: row.resolution ?? '720p',
    generateAudio: row.generateAudio ?? true,
    negativePrompt: row.negativePrompt,
    seed: row.seed,
    model: row.model,
    image: row.imageUri && row.imageMimeType ? { uri: row.imageUri, mimeType: row.imageMimeType } : null,
    lastFrame:
      row.lastFrameUri && row.lastFrameMimeType ? { uri: row.lastFrameUri, mimeType: row.lastFrameMimeType } : null,
    // A request that ended before its images were stored (expired, stopped by an admin) hands on where they are.
    ...sourcesOf(row),
    sourceVideo:
      row.sourceVideoUri && row.sourceVideoSeconds !== null
        ? { uri: row.sourceVideoUri, seconds: row.sourceVideoSeconds }
        : null,
  };
}

function sourcesOf(row: VideoRequestRow): Pick<VideoSpec, 'imageSource' | 'lastFrameSource'> {
  const pending = pendingImages(row);
  return {
    imageSource: pending.find((p) => p.option === 'image')?.source ?? null,
    lastFrameSource: pending.find((p) => p.option === 'last_frame')?.source ?? null,
  };
}

/** What each press asks for. */
export type PressChange =
  | { kind: 'reroll'; seed: number }
  | { kind: 'extend' }
  | { kind: 'edit'; prompt: string; negativePrompt: string | null }
  | { kind: 'retry'; audioOff: boolean };

/**
 * The request a press makes from `parent`: Reroll keeps every setting and takes a new seed; Extend continues the
 * parent's video (7 seconds, 720p, no input images); Edit prompt changes the prompt and negative prompt only; Retry
 * repeats the request (without audio when the filter stopped the audio).
 */
export function specFromPress(parent: VideoRequestRow, change: PressChange): VideoSpec {
  const base = specOf(parent);
  switch (change.kind) {
    case 'reroll':
      return { ...base, seed: change.seed };
    case 'extend':
      return {
        ...base,
        durationSeconds: EXTENSION_SECONDS,
        resolution: '720p',
        image: null,
        lastFrame: null,
        imageSource: null,
        lastFrameSource: null,
        sourceVideo: { uri: parent.videoUrls![0]!, seconds: outputSeconds(parent) },
      };
    case 'edit':
      return { ...base, prompt: change.prompt, negativePrompt: change.negativePrompt };
    case 'retry':
      return change.audioOff ? { ...base, generateAudio: false } : base;
  }
}

/**
 * What a video request may ask for: the `/video` options, checked before anything is written or paid (R11), and the
 * values Veo accepts.
 */
import type { AspectRatio, Resolution } from './request';
import { cleanText } from './text';

export const PROMPT_MAX_LENGTH = 2000;
export const NEGATIVE_PROMPT_MAX_LENGTH = 1000;
export const SEED_MAX = 4_294_967_295;
export const VEO_DURATIONS = [4, 6, 8] as const;
export const VEO_ASPECT_RATIOS = ['16:9', '9:16'] as const satisfies readonly AspectRatio[];
export const VEO_RESOLUTIONS = ['720p', '1080p'] as const satisfies readonly Resolution[];
export type VeoDuration = (typeof VEO_DURATIONS)[number];
export type VeoAspectRatio = (typeof VEO_ASPECT_RATIOS)[number];

export function isVeoAspectRatio(ratio: string): ratio is VeoAspectRatio {
  return (VEO_ASPECT_RATIOS as readonly string[]).includes(ratio);
}

export function isSeed(seed: number): boolean {
  return Number.isSafeInteger(seed) && seed >= 0 && seed <= SEED_MAX;
}

export interface VideoCommandInput {
  prompt: string | null;
  length: number | null;
  ratio: string | null;
  hd: boolean | null;
  audio: boolean | null;
  negativePrompt: string | null;
  seed: number | null;
}

export interface ValidVideoInput {
  prompt: string;
  durationSeconds: VeoDuration;
  aspectRatio: VeoAspectRatio;
  resolution: Resolution;
  generateAudio: boolean;
  negativePrompt: string | null;
  seed: number | null;
}

const NUL = '\u0000';
const NUL_PROBLEM = (what: string) =>
  `The ${what} contains a NUL character (U+0000), which cannot be stored; remove it and try again.`;

/** Checks every `/video` option; returns either the clean input or every problem in plain words. */
export function validateVideoInput(
  input: VideoCommandInput,
): { ok: true; value: ValidVideoInput } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  // PostgreSQL cannot store U+0000 in text: refuse it with the reason rather than fail the write.
  if (input.prompt?.includes(NUL)) problems.push(NUL_PROBLEM('prompt'));
  if (input.negativePrompt?.includes(NUL)) problems.push(NUL_PROBLEM('negative prompt'));
  const prompt = cleanText(input.prompt ?? '');
  if (!prompt)
    problems.push(
      'The prompt is empty. Describe the video you want, for example "a red fox running through snow at dawn".',
    );
  else if (prompt.length < 3) problems.push('The prompt is too short: use at least 3 characters.');
  else if (prompt.length > PROMPT_MAX_LENGTH)
    problems.push(`The prompt is ${prompt.length} characters long; the limit is ${PROMPT_MAX_LENGTH}.`);

  const length = input.length ?? 8;
  if (!(VEO_DURATIONS as readonly number[]).includes(length)) problems.push('Length must be 4, 6 or 8 seconds.');

  const ratio = input.ratio ?? '16:9';
  if (!isVeoAspectRatio(ratio)) problems.push('Ratio must be 16:9 (landscape) or 9:16 (portrait).');

  const negative = input.negativePrompt === null ? null : cleanText(input.negativePrompt) || null;
  if (negative && negative.length > NEGATIVE_PROMPT_MAX_LENGTH) {
    problems.push(
      `The negative prompt is ${negative.length} characters long; the limit is ${NEGATIVE_PROMPT_MAX_LENGTH}.`,
    );
  }

  const seed = input.seed;
  if (seed !== null && !isSeed(seed)) problems.push(`The seed must be a whole number from 0 to ${SEED_MAX}.`);

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      prompt,
      durationSeconds: length as VeoDuration,
      aspectRatio: ratio as VeoAspectRatio,
      resolution: input.hd ? '1080p' : '720p',
      generateAudio: input.audio ?? true,
      negativePrompt: negative,
      seed,
    },
  };
}

import { progressBar } from '../../src/discord/embeds';
import { displayText } from '../../src/discord/text';
import { validateVideoInput, type VideoCommandInput } from '../../src/domain/videoInput';

const base: VideoCommandInput = {
  prompt: 'a red fox running through snow',
  length: null,
  ratio: null,
  hd: null,
  audio: null,
  negativePrompt: null,
  seed: null,
};

describe('/video input validation', () => {
  it('fills the defaults users expect', () => {
    const result = validateVideoInput(base);
    expect(result).toEqual({
      ok: true,
      value: {
        prompt: 'a red fox running through snow',
        durationSeconds: 8,
        aspectRatio: '16:9',
        resolution: '720p',
        generateAudio: true,
        negativePrompt: null,
        seed: null,
      },
    });
  });

  it('maps hd, audio, length, ratio, negative prompt and seed', () => {
    const result = validateVideoInput({
      ...base,
      length: 4,
      ratio: '9:16',
      hd: true,
      audio: false,
      negativePrompt: '  blurry  ',
      seed: 42,
    });
    expect(result).toMatchObject({
      ok: true,
      value: {
        durationSeconds: 4,
        aspectRatio: '9:16',
        resolution: '1080p',
        generateAudio: false,
        negativePrompt: 'blurry',
        seed: 42,
      },
    });
  });

  it.each([
    [{ prompt: '' }, /prompt is empty/],
    [{ prompt: '\u200B\u200B \u202E ' }, /prompt is empty/],
    [{ prompt: 'ab' }, /too short/],
    [{ prompt: 'x'.repeat(6000) }, /6000 characters long; the limit is 2000/],
    [{ length: 5 }, /Length must be 4, 6 or 8/],
    [{ ratio: '1:1' }, /Ratio must be 16:9/],
    [{ seed: -1 }, /seed must be a whole number/],
    [{ seed: 2 ** 40 }, /seed must be a whole number/],
    [{ seed: 1.5 }, /seed must be a whole number/],
    [{ negativePrompt: 'n'.repeat(1001) }, /negative prompt is 1001 characters/],
  ])('refuses %p with a clear message', (patch, message) => {
    const result = validateVideoInput({ ...base, ...patch });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join('\n')).toMatch(message);
  });

  it('lists every problem at once', () => {
    const result = validateVideoInput({ ...base, prompt: '', length: 3, ratio: 'wide' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems).toHaveLength(3);
  });

  it('keeps mentions and markdown as text (they are never pinged or rendered)', () => {
    const result = validateVideoInput({ ...base, prompt: '@everyone <@&400000000000000001> **bold** cat' });
    expect(result.ok).toBe(true);
    expect(displayText('@everyone **bold** `code`')).toBe('@everyone \\*\\*bold\\*\\* \\`code\\`');
    expect(displayText('\u202Eevil\u200B text')).toBe('evil text');
  });

  it('never shows 100% before Veo is done', () => {
    expect(progressBar(0, 8)).toMatch(/ 0%$/);
    expect(progressBar(10 * 60_000, 8)).toMatch(/ 95%$/);
  });
});

describe('/video input the database cannot store', () => {
  it('refuses a prompt or negative prompt with a NUL character, saying why, before anything is written', () => {
    const result = validateVideoInput({ ...base, prompt: 'a fox\u0000 in snow', negativePrompt: 'blur\u0000' });
    expect(result).toEqual({
      ok: false,
      problems: [
        'The prompt contains a NUL character (U+0000), which cannot be stored; remove it and try again.',
        'The negative prompt contains a NUL character (U+0000), which cannot be stored; remove it and try again.',
      ],
    });
  });
});

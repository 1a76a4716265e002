import { displayText } from '../../src/discord/text';

/** What a user never sees broken: Discord's field limit is 1024 and a cut through an emoji leaves invalid text. */
describe('displayText bounds', () => {
  const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

  it('keeps escaped markdown within the limit', () => {
    const shown = displayText('*'.repeat(900) + ' @everyone', 1000);
    expect(shown.length).toBeLessThanOrEqual(1000);
    expect(shown.endsWith('…')).toBe(true);
    expect(shown.startsWith('\\*')).toBe(true);
  });

  it('never cuts through an emoji', () => {
    for (let lead = 290; lead < 302; lead++) {
      const shown = displayText('a'.repeat(lead) + '🎬🌊'.repeat(20), 300);
      expect(shown.length).toBeLessThanOrEqual(300);
      expect(loneSurrogate.test(shown)).toBe(false);
      expect(shown.endsWith('…')).toBe(true);
    }
  });

  it('leaves short text as it was, escaped', () => {
    expect(displayText('a **bold** fox', 300)).toBe('a \\*\\*bold\\*\\* fox');
  });
});

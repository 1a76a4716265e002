import { parseResumeButton, RESUME_BUTTON as BUTTON } from '../../src/discord/customIds';

describe('/resume button ids', () => {
  it('carry a whole pending expiry, so any instance (or a restarted one) can handle the press', () => {
    const pending = {
      adminId: '1300000000000000102',
      olderThanHours: 8760,
      includeGenerating: true,
      requestId: '3d08891d-0030-4095-89c7-fd8f037ee16e',
      expiresAt: 1_795_983_116_000,
    };
    const id = BUTTON.expire('confirm', pending);
    expect(id.length).toBeLessThanOrEqual(100); // Discord's custom_id limit
    expect(parseResumeButton(id)).toEqual({ kind: 'expire', action: 'confirm', pending });
    expect(
      parseResumeButton(BUTTON.expire('cancel', { ...pending, requestId: undefined, includeGenerating: false })),
    ).toEqual({
      kind: 'expire',
      action: 'cancel',
      pending: { ...pending, requestId: undefined, includeGenerating: false },
    });
  });

  it('round-trip status pages and refuse anything else', () => {
    expect(parseResumeButton(BUTTON.statusPage(3))).toEqual({ kind: 'status', page: 3 });
    for (const bad of [
      'resume:status:-1',
      'resume:expire:c:123:1:0:-:abc',
      'resume:expire:c:1300000000000000102:1:0:../x:abc',
      'other:thing',
      '',
    ]) {
      expect(parseResumeButton(bad)).toBeNull();
    }
  });
});

// The Discord emulator's parts for issue #16, through the real @discordjs/rest client: files attached to command
// options (resolved attachments on signed CDN URLs that expire), the MODAL callback and its MODAL_SUBMIT, component
// presses (only of components the message has), `@original` of a component interaction answered with a new message,
// and a replayed interaction. Rules and sources: tests/emulators/discord/README.md.
import { DiscordAPIError, REST } from '@discordjs/rest';
import {
  ApplicationCommandOptionType,
  ButtonStyle,
  ComponentType,
  InteractionResponseType,
  InteractionType,
  Routes,
  TextInputStyle,
} from 'discord-api-types/v10';
import { WebSocket } from 'ws';
import { pngBytes } from '../helpers/images';
import { DiscordEmulator, WORLD } from './discord';

const GENERAL = WORLD.guilds.main.channels.general.id;

describe('Discord emulator: attachments, modals, components of earlier messages', () => {
  let emu: DiscordEmulator;
  let rest: REST;
  let ws: WebSocket;
  const received: any[] = [];
  const callback = (h: { id: string; token: string }, body: object) =>
    rest.post(Routes.interactionCallback(h.id, h.token), { body, auth: false });

  beforeAll(async () => {
    emu = await DiscordEmulator.start({ ackDeadlineMs: 60_000 });
    rest = new REST({ api: emu.apiUrl, retries: 0 }).setToken(emu.token);
    ws = new WebSocket(`${emu.gatewayUrl}?v=10&encoding=json`);
    ws.on('message', (raw) => {
      const p = JSON.parse(String(raw));
      if (p.t === 'INTERACTION_CREATE') received.push(p.d);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ op: 2, d: { token: emu.token, intents: 1, properties: {} } }));
    await emu.waitFor(() => emu.sessions.some((s) => s.ready), 2_000, 'session');
  });
  afterAll(async () => {
    ws?.close(1000);
    await emu?.close();
  });

  test('an attachment option: the id as value, the file in data.resolved.attachments, on a signed CDN URL', async () => {
    const file = pngBytes(3000);
    const h = emu.pushInteraction({
      name: 'video',
      options: { prompt: 'x', image: { file, filename: 'cat.png', contentType: 'image/png' } },
    });
    const data = h.interaction.payload.data;
    const option = data.options.find((o: any) => o.name === 'image');
    expect(option).toMatchObject({ type: ApplicationCommandOptionType.Attachment });
    const attachment = data.resolved.attachments[option.value];
    expect(attachment).toMatchObject({
      id: option.value,
      filename: 'cat.png',
      size: 3000,
      content_type: 'image/png',
      ephemeral: true,
    });
    expect(attachment.url).toMatch(
      /\/ephemeral-attachments\/\d+\/\d+\/cat\.png\?ex=[0-9a-f]+&is=[0-9a-f]+&hm=[0-9a-f]{64}&$/,
    );
    const ok = await fetch(attachment.url);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(file)).toBe(true);

    // A tampered signature or a later expiry is refused, as Discord's CDN refuses them.
    const tampered = attachment.url.replace(
      /ex=([0-9a-f]+)/,
      (_: string, ex: string) => `ex=${(parseInt(ex, 16) + 3600).toString(16)}`,
    );
    expect((await fetch(tampered)).status).toBe(404);
    emu.clock.advance(emu.attachmentUrlLifetimeMs + 1_000);
    try {
      const gone = await fetch(attachment.url);
      expect(gone.status).toBe(404);
      expect(await gone.text()).toBe('This content is no longer available.');
    } finally {
      emu.clock.advance(-(emu.attachmentUrlLifetimeMs + 1_000));
    }
    // A client that declares no content type sends none.
    const bare = emu.pushInteraction({ name: 'video', options: { image: { file, filename: 'x', contentType: null } } });
    const [bareAttachment] = Object.values(bare.interaction.payload.data.resolved.attachments) as any[];
    expect(bareAttachment.content_type).toBeUndefined();
  });

  test('MODAL: validated like Discord, then submitted once as MODAL_SUBMIT with the values', async () => {
    const modal = (over: object = {}, input: object = {}) => ({
      custom_id: 'vb:m:edit',
      title: 'Edit the prompt',
      components: [
        {
          type: ComponentType.Label,
          label: 'Prompt',
          component: {
            type: ComponentType.TextInput,
            custom_id: 'prompt',
            style: TextInputStyle.Paragraph,
            value: 'a red fox',
            max_length: 2000,
            ...input,
          },
        },
      ],
      ...over,
    });
    const refused = async (body: object, path: string) => {
      const h = emu.pushInteraction({ name: 'anything' });
      const err = await callback(h, { type: InteractionResponseType.Modal, data: body }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DiscordAPIError);
      expect(err).toMatchObject({ status: 400, code: 50035 });
      let node: any = (err as DiscordAPIError).rawError;
      for (const key of ['errors', 'data', ...path.split('.')]) node = node?.[key];
      expect(node?._errors).toBeDefined();
    };
    await refused(modal({ title: 'x'.repeat(46) }), 'title');
    await refused(modal({ custom_id: 'x'.repeat(101) }), 'custom_id');
    await refused(modal({ components: [] }), 'components');
    await refused(modal({}, { value: 'x'.repeat(4001), max_length: 4000 }), 'components.0.component.value');
    await refused(modal({}, { style: 3 }), 'components.0.component.style');
    await refused(modal({}, { max_length: 4001 }), 'components.0.component.max_length');

    // A button on an earlier message opens it; the submission carries that message.
    const source = (await rest.post(Routes.channelMessages(GENERAL), {
      body: {
        content: 'result',
        components: [
          { type: 1, components: [{ type: 2, style: ButtonStyle.Secondary, label: 'Edit prompt', custom_id: 'edit' }] },
        ],
      },
    })) as { id: string };
    const press = emu.pushComponent({ message: source.id, customId: 'edit' });
    await callback(press, { type: InteractionResponseType.Modal, data: modal() });
    // MODAL cannot answer a MODAL_SUBMIT.
    const submit = emu.pushModalSubmit({ opener: press, values: { prompt: 'a blue fox' } });
    expect(submit.interaction.payload).toMatchObject({
      type: InteractionType.ModalSubmit,
      message: { id: source.id },
      data: {
        custom_id: 'vb:m:edit',
        components: [
          {
            type: ComponentType.Label,
            component: { type: ComponentType.TextInput, custom_id: 'prompt', value: 'a blue fox' },
          },
        ],
      },
    });
    await expect(callback(submit, { type: InteractionResponseType.Modal, data: modal() })).rejects.toMatchObject({
      status: 400,
      code: 50035,
    });
    expect(() => emu.pushModalSubmit({ opener: press })).toThrow(/already submitted/);
    // The client does not submit what the modal forbids.
    const again = emu.pushComponent({ message: source.id, customId: 'edit' });
    await callback(again, { type: InteractionResponseType.Modal, data: modal({}, { min_length: 3 }) });
    expect(() => emu.pushModalSubmit({ opener: again, values: { prompt: 'ab' } })).toThrow(/3 to 2000 characters/);
    expect(() => emu.pushModalSubmit({ opener: again, values: { nope: 'x' } })).toThrow(/no text input/);
  });

  test('presses only components a message has; @original of a press answered with a new message is that message', async () => {
    const source = (await rest.post(Routes.channelMessages(GENERAL), {
      body: {
        content: 'sent by an earlier bot process',
        components: [
          {
            type: 1,
            components: [
              { type: 2, style: ButtonStyle.Primary, label: 'Reroll', custom_id: 'reroll:0' },
              { type: 2, style: ButtonStyle.Secondary, label: 'Old', custom_id: 'old', disabled: true },
            ],
          },
        ],
      },
    })) as { id: string };
    expect(() => emu.pushComponent({ message: source.id, customId: 'reroll:1' })).toThrow(/has no component/);
    expect(() => emu.pushComponent({ message: source.id, customId: 'old' })).toThrow(/disabled/);

    const press = emu.pushComponent({ message: source.id, customId: 'reroll:0' });
    await callback(press, { type: InteractionResponseType.DeferredChannelMessageWithSource });
    const reply = (await rest.patch(Routes.webhookMessage(WORLD.applicationId, press.token, '@original'), {
      body: { content: 'progress of the new request' },
      auth: false,
    })) as { id: string };
    expect(reply.id).not.toBe(source.id);
    expect(emu.message(source.id)!.content).toBe('sent by an earlier bot process');
    expect(press.original()!.id).toBe(reply.id);

    // A press answered by updating its message edits that message.
    const update = emu.pushComponent({ message: source.id, customId: 'reroll:0' });
    await callback(update, { type: InteractionResponseType.UpdateMessage, data: { content: 'updated' } });
    expect(emu.message(source.id)!.content).toBe('updated');
    // UPDATE_MESSAGE is for component interactions only.
    const command = emu.pushInteraction({ name: 'anything' });
    await expect(
      callback(command, { type: InteractionResponseType.UpdateMessage, data: { content: 'x' } }),
    ).rejects.toMatchObject({ status: 400, code: 50035 });
  });

  test('a replayed interaction arrives again with the same id and token; only one callback is accepted', async () => {
    received.length = 0;
    const h = emu.pushInteraction({ name: 'video', options: { prompt: 'once' } });
    emu.replayInteraction(h);
    await emu.waitFor(() => received.length >= 2, 2_000, 'both deliveries');
    expect(received.map((d) => [d.id, d.token])).toEqual([
      [h.id, h.token],
      [h.id, h.token],
    ]);
    await callback(h, { type: InteractionResponseType.DeferredChannelMessageWithSource });
    await expect(callback(h, { type: InteractionResponseType.DeferredChannelMessageWithSource })).rejects.toMatchObject(
      { status: 400, code: 40060 },
    );
  });
});

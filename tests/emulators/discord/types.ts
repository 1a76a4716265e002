// Public types of the Discord emulator (re-exported by emulator.ts and index.ts), and the internal records behind them.
import type { InteractionResponseType, InteractionType } from 'discord-api-types/v10';
import type { Clock } from './clock';

export interface RecordedFile {
  field: string;
  name: string;
  size: number;
  contentType: string;
}
export interface RecordedCall {
  method: string;
  /** Decoded path below the version, e.g. `/webhooks/{app}/{token}/messages/@original`. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, or the parsed `payload_json` of a multipart request. */
  body: any;
  files: RecordedFile[];
  status: number;
  response: unknown;
  /** Carried a valid `Authorization: Bot <token>`. */
  authorized: boolean;
  /** Emulator-clock time of arrival. */
  at: number;
}
export interface Pinged {
  users: string[];
  roles: string[];
  everyone: boolean;
}
export interface MessageEdit {
  at: number;
  content: string;
  pinged: Pinged;
}
export type MessageKind = 'channel' | 'original' | 'followup' | 'user';
export interface EmulatedMessage {
  id: string;
  channelId: string;
  guildId?: string;
  kind: MessageKind;
  interactionId?: string;
  authorId: string;
  content: string;
  embeds: any[];
  attachments: any[];
  components: any[];
  flags: number;
  nonce?: string | number;
  ephemeral: boolean;
  loading: boolean;
  /** Number of edits, and each edit (edits never ping: their `pinged` is empty). */
  edits: number;
  editLog: MessageEdit[];
  /** Who the creation of this message really notified. */
  pinged: Pinged;
  createdAt: number;
  /** The API message object as the emulator returns it. */
  raw: any;
}
export interface FaultSpec {
  method?: string;
  /**
   * Matched against the decoded path below the version (`/channels/…/messages`), or a CDN file's path
   * (`/ephemeral-attachments/…`); a string matches as a substring.
   */
  path: RegExp | string;
  status: number;
  code?: number;
  message?: string;
  /** Seconds (429 only; fractions allowed). */
  retryAfter?: number;
  global?: boolean;
  /** How many requests it answers; default 1, `Infinity` for all. */
  times?: number;
}
/** The interaction types the emulator dispatches. */
export type EmulatedInteractionType =
  | InteractionType.ApplicationCommand
  | InteractionType.MessageComponent
  | InteractionType.ApplicationCommandAutocomplete
  | InteractionType.ModalSubmit;
export interface StoredInteraction {
  id: string;
  token: string;
  type: EmulatedInteractionType;
  guildId: string;
  channelId: string;
  userId: string;
  name?: string;
  customId?: string;
  createdAt: number;
  attachmentSizeLimit: number;
  sessionIndex: number;
  payload: any;
  ackType?: InteractionResponseType;
  ackedAt?: number;
  originalMessageId?: string;
  sourceMessageId?: string;
  followUpIds: string[];
  autocompleteChoices?: unknown[];
  /** the modal this interaction was answered with (callback type 9) */
  modal?: any;
  /** the MODAL_SUBMIT interaction that closed it (a modal is submitted once) */
  modalSubmittedBy?: string;
}
export interface InteractionHandle {
  id: string;
  token: string;
  interaction: StoredInteraction;
  /** Resolves with the callback type (4, 5, 6, 7, 8, 9) once the interaction has been acknowledged. */
  waitForAck(timeoutMs?: number): Promise<number>;
  /** The original response (for a component interaction: the message the component is on). */
  original(): EmulatedMessage | undefined;
  followUps(): EmulatedMessage[];
  /** Original (if any) then follow-ups. */
  replies(): EmulatedMessage[];
  waitForReply(predicate?: (m: EmulatedMessage) => boolean, timeoutMs?: number): Promise<EmulatedMessage>;
  autocompleteChoices(): unknown[] | undefined;
}
/** A file a user attaches to a command option (type 11 ATTACHMENT). */
export interface EmulatedUpload {
  file: Buffer;
  filename: string;
  /** what the user's client declares (default application/octet-stream; null: none) */
  contentType?: string | null;
}
export interface PushInteractionOptions {
  guildId?: string;
  channelId?: string;
  userId?: string;
  name: string;
  subcommand?: string;
  subcommandGroup?: string;
  options?: Record<string, string | number | boolean | EmulatedUpload>;
  attachmentSizeLimit?: number;
  locale?: string;
  sessionIndex?: number;
}
export interface PushAutocompleteOptions extends PushInteractionOptions {
  focused: string;
}
export interface PushModalSubmitOptions {
  /** the interaction that was answered with the modal */
  opener: InteractionHandle | StoredInteraction;
  /** text input values by custom_id (inputs left out keep their prefilled value) */
  values?: Record<string, string>;
  locale?: string;
  sessionIndex?: number;
}
export interface PushComponentOptions {
  message: EmulatedMessage | string;
  customId: string;
  userId?: string;
  componentType?: number;
  values?: string[];
  locale?: string;
  sessionIndex?: number;
}
export interface DiscordEmulatorOptions {
  clock?: Clock;
  /** Bot token to accept (default: a random one, see `token`). */
  token?: string;
  /** Window in which `enforce_nonce` returns the first message (default 5 min). */
  nonceWindowMs?: number;
  /** Deadline of the first interaction callback (default 3 s, as Discord). */
  ackDeadlineMs?: number;
  /** Lifetime of interaction tokens (default 15 min, as Discord). */
  tokenLifetimeMs?: number;
  /** Lifetime of the signed CDN URLs of files attached to command options (default 24 h). */
  attachmentUrlLifetimeMs?: number;
  /** Who of a shard's duplicate sessions gets an interaction: 'all' as on Discord (default), or 'one' in turn. */
  duplicateSessionDelivery?: 'one' | 'all';
}

/** The emulator's tunable timings; the `DiscordEmulator` itself is one (its fields can be changed mid-test). */
export interface Timings {
  nonceWindowMs: number;
  ackDeadlineMs: number;
  tokenLifetimeMs: number;
  attachmentUrlLifetimeMs: number;
  duplicateSessionDelivery: 'one' | 'all';
}

// ---- internal ----------------------------------------------------------------------------------------------------
export interface Upload extends RecordedFile {
  data: Buffer;
}
export interface StoredMessage {
  raw: any;
  kind: MessageKind;
  channelId: string;
  guildId?: string;
  authorId: string;
  interactionId?: string;
  createdAt: number;
  editLog: MessageEdit[];
  pinged: Pinged;
  deleted: boolean;
}

export { GoogleEmulator, KNOWN_VEO_MODELS } from './GoogleEmulator';
export type {
  Fate,
  Fault,
  FaultRoute,
  GoogleEmulatorOptions,
  OperationRecord,
  OperationState,
  RecordedPart,
  RequestRecord,
  SubmitRateLimit,
  SubmitRecord,
} from './GoogleEmulator';
export { fakeMp4, crc32cOf, md5Of } from './gcs';
export type { StoredObject } from './gcs';

export { FakeGcs } from './FakeGcs';
export { parseMultipart } from './multipart';
export { crc32cOf, fakeMp4, md5Of } from './objects';
export type { StoredObject, SyntheticObjectOptions } from './objects';

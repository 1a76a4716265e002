/**
 * The Redis server tests use: TEST_REDIS_URL, else REDIS_URL, else redis://127.0.0.1:6379. Each test file that starts
 * bots on Redis takes a database number of its own, so its BullMQ queue never meets another file's; pointing
 * TEST_REDIS_URL at another server keeps two test runs on one machine apart.
 */
export function testRedisUrl(db: number): string {
  const base = new URL(process.env.TEST_REDIS_URL || process.env.REDIS_URL || 'redis://127.0.0.1:6379');
  base.pathname = `/${db}`;
  return base.toString();
}

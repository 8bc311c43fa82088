/**
 * Default bounds for client connections, shared by the node and the proxy's client listener
 * (docs/limits.md shows the arithmetic behind each). Flags override them.
 */

/** beanstalkd's port, and the largest TCP port. */
export const DEFAULT_PORT = 11300;
export const MAX_PORT = 65535;

/**
 * Client connections beyond these are closed at once. An idle connection costs a few KiB (node
 * 4 KiB, proxy 16 KiB with its node connection), a busy one at most its byte bounds below.
 *
 * The node's is the higher one: behind proxies it sees one connection per client per node that
 * client's tubes touch, and a node refusing a proxy's connection looks to that proxy like a dead
 * node (marked down for every client). 10 000 clients on each of 3 proxies, touching 2 nodes each,
 * stay under 65 536.
 */
export const DEFAULT_MAX_CONNECTIONS = 65_536;
export const DEFAULT_PROXY_MAX_CONNECTIONS = 10_000;

/** Unsent replies per connection before its requests wait for the client to read. */
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * The output bound is checked against the socket's buffer and released on its `drain`, which only
 * fires once a write went past the socket's high-water mark (16 KiB in Node 20, 64 KiB in 22):
 * a smaller bound would never be released.
 */
export const MIN_OUTPUT_BYTES = 64 * 1024;

/** Unprocessed input per connection (node) or queued put bodies (proxy) before reading pauses. */
export const DEFAULT_MAX_INPUT_BYTES = 1024 * 1024;

/**
 * A started request must be complete, and output over the bound drained, within this (slowloris).
 * 30 s carries a default-size (64 KiB) body over a 20 kbit/s link; raise it with -z.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Proxy: requests outstanding on one client's node connection before the next waits. Their replies
 * arrive whatever the client does, so this times the largest reply (a 64 KiB job: 8 MiB) is what a
 * client that stops reading can still make the proxy hold beyond maxOutputBytes. 128 keeps a
 * pipelining client's node connection busy (a node answers a batch per read).
 */
export const DEFAULT_MAX_INFLIGHT = 128;

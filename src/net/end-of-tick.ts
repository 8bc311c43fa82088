/**
 * Runs a function once the current callback and everything it queued are done, before the event
 * loop goes on: where the proxy writes a tick's requests to a node and a tick's replies to a
 * client in one write each (issue 18).
 *
 * Why not `process.nextTick`: after each I/O callback Node runs its JS tick loop only when
 * something is on the tick queue; otherwise it runs the microtasks natively. That tick loop ends
 * with the unhandled-rejection check, which builds a new Map every time — with two nextTicks a
 * proxied request, 1.5 KB of garbage and 9 % of the proxy's instructions a ping-pong cycle
 * (bench/README.md hot spot 17). Why not `queueMicrotask`: Node wraps each callback in an
 * AsyncResource and a bound function. A reaction on a promise that is already settled is the
 * cheapest microtask there is. A throw in `fn` becomes an unhandled rejection, which ends the
 * process as an uncaught exception would.
 */
const settled = Promise.resolve();

export function atEndOfTick(fn: () => void): void {
  void settled.then(fn);
}

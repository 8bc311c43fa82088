/** Programmer errors crash (the engine imports nothing from node:*, so no node:assert here). */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${message}`);
}

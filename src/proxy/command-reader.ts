/**
 * Client-side framing for the proxy: the node's own resumable parser (src/protocol/parser.ts),
 * so lines, bodies, the 224-byte limit, BAD_FORMAT discards and the JOB_TOO_BIG bit bucket behave
 * exactly as on one beanstalkd — with the proxy's max job size. Every complete request is handed
 * on at once: the session, not the parser, decides when it runs.
 */
import { RequestParser } from '../protocol/parser';
import { type ClientEvent, toClientEvent } from './commands';

export type ReaderEvent = ClientEvent;

export class CommandReader {
  private readonly parser: RequestParser;

  constructor(
    maxJobBytes: number,
    private readonly emit: (event: ReaderEvent) => void,
  ) {
    this.parser = new RequestParser(maxJobBytes);
  }

  /** A partial request (line, body or discard) is waiting for more bytes. */
  get midRequest(): boolean {
    return this.parser.midRequest;
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk);
    for (let req = this.parser.next(); req !== undefined; req = this.parser.next())
      this.emit(toClientEvent(req));
  }
}

/** The primary's Binlog seen as replication's SourceLog (source-log.ts). */
import * as fs from 'node:fs';
import type { Binlog } from '../binlog';
import { FILE_HEADER_BYTES, RECORD_HEADER_BYTES, RECORD_MARKER } from '../binlog/format';
import type { SourceLog, SourceSegment, WrittenSpan } from './source-log';
import { noteTermStart, type TermStart } from './terms';

/** Reads `bytes` at `position` of a file (rare, small reads: a header, one LSN). */
function readAt(filePath: string, position: number, bytes: number): Buffer | undefined {
  const fd = fs.openSync(filePath, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    return fs.readSync(fd, buf, 0, bytes, position) === bytes ? buf : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

export function primaryLog(binlog: Binlog): SourceLog {
  const find = (index: number): SourceSegment | undefined =>
    binlog.segmentList.find((s) => s.index === index);
  return {
    segments: () => binlog.segmentList,
    lastLsn: () => binlog.lastLsn(),
    termHistory(): TermStart[] {
      const history: TermStart[] = [];
      for (const s of binlog.segmentList) if (s.firstLsn > 0) noteTermStart(history, s.term, s.firstLsn);
      return history;
    },
    segmentHeader(index: number): Buffer {
      const segment = find(index);
      const header = segment && readAt(segment.path, 0, FILE_HEADER_BYTES);
      if (header === undefined) throw new Error(`cannot read the header of segment ${index}`);
      return header;
    },
    lsnAt(index: number, offset: number): number | undefined {
      const segment = find(index);
      if (segment === undefined || offset + RECORD_HEADER_BYTES + 8 > segment.flushed) return undefined;
      const head = readAt(segment.path, offset, RECORD_HEADER_BYTES + 8);
      if (head === undefined || head[0] !== RECORD_MARKER[0] || head[1] !== RECORD_MARKER[1])
        return undefined;
      return Number(head.readBigUInt64LE(RECORD_HEADER_BYTES));
    },
    onWritten(listener: (spans: readonly WrittenSpan[], lastLsn: number) => void): () => void {
      return binlog.onWritten((writes, lsn) =>
        listener(
          writes.map((w) => ({ index: w.segment.index, position: w.position, bufs: w.bufs, end: w.end })),
          lsn,
        ),
      );
    },
  };
}

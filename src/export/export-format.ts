// What an export file is: its name's suffix (the download route's too), the Content-Type it is
// served with, and the stages that turn the COPY's CSV into its bytes. A new format (JSONL, say)
// is one more ExportFormat here and its choice in exportFormat(); the pipeline, the publication,
// the download route and the file's name all read it from here.
import type { Transform } from 'node:stream';
import type { ExportCollection } from '../store/queries/exports.js';
import { ParallelGzip } from './parallel-gzip.js';

// Level 4 on every core. Measured on these CDRs: level 4 takes 23% less CPU than level 5, and
// 39% less than level 6. Its file is about 3% larger than `gzip -6`'s, within the 5% the
// benchmark allows. zlib's levels 4 to 9 all use lazy matching; see bench/ and shared/perf-notes.md.
const GZIP_LEVEL = 4;

export interface ExportFormat {
  /** The file name's suffix after its id, and the download URL's. */
  suffix: string;
  contentType: string;
  /** Fresh stages for one slice, between the COPY's CSV and the file; `maxInFlight` bounds the
   * parallel work of one slice (see writeExportFile). */
  stages(maxInFlight: number): Transform[];
}

/** DIDWW's `/v3/exports`: gzipped CSV, one gzip member per slice. */
export const CSV_GZ: ExportFormat = {
  suffix: '.csv.gz',
  contentType: 'application/octet-stream',
  stages: (maxInFlight) => [new ParallelGzip({ level: GZIP_LEVEL, maxInFlight })],
};

/** The legacy `/v3/cdr_exports`: plain CSV. */
export const CSV: ExportFormat = {
  suffix: '.csv',
  contentType: 'application/octet-stream',
  stages: () => [],
};

export function exportFormat(collection: ExportCollection): ExportFormat {
  return collection === 'cdr_exports' ? CSV : CSV_GZ;
}

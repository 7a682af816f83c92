// ExportRow → JSON:API resource, in the shape each API version expects.
import type { ExportRow } from '../../store/queries/exports.js';
import { isCurrent } from './versions.js';

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function fileUrl(publicUrl: string, row: ExportRow): string | null {
  if (!row.file_name) return null;
  return `${publicUrl}/v3/${row.dialect}/${row.file_name}`;
}

export function exportResource(row: ExportRow, version: string, publicUrl: string) {
  const current = isCurrent(version);
  const method = row.callback_method;
  return {
    id: row.id,
    type: 'exports',
    attributes: {
      status: current ? row.status : capitalize(row.status),
      created_at: row.created_at.toISOString(),
      url: fileUrl(publicUrl, row),
      callback_url: row.callback_url,
      callback_method: method ? (current ? method.toLowerCase() : method) : null,
      export_type: row.export_type,
      ...(current ? { external_reference_id: row.external_reference_id, filters: row.filters } : {}),
    },
    // JSON:API resource meta, current version only (the seeds' versions show none): what the
    // file holds, so a client can show it before downloading (the portal does).
    ...(current && row.file_name ? { meta: fileMeta(row) } : {}),
  };
}

/** The file's CDRs (its header line aside) and its size in bytes. */
function fileMeta(row: ExportRow) {
  return { rows: Number(row.row_count ?? 0), size: Number(row.file_size ?? 0) };
}

export function cdrExportResource(row: ExportRow, publicUrl: string) {
  const filters = row.filters as { year?: unknown; month?: unknown; did_number?: unknown };
  return {
    id: row.id,
    type: 'cdr_exports',
    attributes: {
      filters: {
        year: String(filters.year),
        month: String(filters.month),
        ...(filters.did_number ? { did_number: String(filters.did_number) } : {}),
      },
      status: capitalize(row.status),
      created_at: row.created_at.toISOString(),
      url: fileUrl(publicUrl, row),
    },
  };
}

/** first/last/next/prev links with absolute URLs, keeping the request's sort and filters. */
export function pageLinks(
  base: string,
  query: Record<string, string | undefined>,
  page: { number: number; size: number; total: number },
) {
  const last = Math.max(1, Math.ceil(page.total / page.size));
  const link = (n: number) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
    params.set('page[number]', String(n));
    params.set('page[size]', String(page.size));
    return `${base}?${params.toString()}`;
  };
  return {
    first: link(1),
    last: link(last),
    ...(page.number < last ? { next: link(page.number + 1) } : {}),
    ...(page.number > 1 ? { prev: link(Math.min(page.number - 1, last)) } : {}),
  };
}

// What app.ts needs of an API dialect: where it is mounted and how it answers a URL no route could
// take. Each dialect exports one; adding a dialect is adding it to app.ts's list, nothing else there.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface ApiDialect {
  /** The URL prefixes it serves; the plugin is registered once under each. */
  prefixes: string[];
  plugin: (app: FastifyInstance) => Promise<void>;
  /** Answers, in the dialect's own error format, a URL the router refused (too long, malformed). */
  urlError(req: FastifyRequest, reply: FastifyReply, status: number, message: string): unknown;
}

/** The dialect whose prefix the URL's first segment is, if any. */
export function dialectOf(dialects: ApiDialect[], firstSegment: string): ApiDialect | undefined {
  return dialects.find((d) => d.prefixes.some((p) => p.split('/')[1] === firstSegment));
}

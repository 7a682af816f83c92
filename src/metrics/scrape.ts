// One scrape of /metrics: the process's event metrics (registry.ts) followed by gauges read now,
// from this process's pools and from the store. The store is read on a pool of its own with a
// deadline, so a scrape never queues behind requests, and when the store is down the scrape still
// answers: `cdrex_store_up` 0 and the store's gauges left out, everything else as usual.
import type pg from 'pg';
import { Gauge, Registry } from 'prom-client';
import { readStoreGauges, type StoreGauges } from '../store/queries/metrics.js';
import { registry } from './registry.js';

export interface ScrapeSources {
  /** This process's pools by what they serve (app, stream, ingest, worker, export). */
  pools: Record<string, pg.Pool>;
  /** cdrex_worker (it sees every account's jobs and exports), used by scrapes and /readyz only. */
  probe: pg.Pool;
  /** Task names (the jobs table's `task`, written by cdrex only), so that an empty queue reads 0
   * rather than nothing; tasks found in the queue are shown too. */
  tasks: string[];
  /** How long a scrape waits for the store. */
  timeoutMs?: number;
}

const STORE_TIMEOUT_MS = 2000;

export class Scraper {
  private readonly local = new Registry();
  private readonly gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [this.local] });
  private readonly storeUp = this.gauge('cdrex_store_up', '1 when the store answered this scrape, else 0.');
  private readonly exports = this.gauge(
    'cdrex_exports',
    'Unfinished exports in the store by status: pending (queued) and processing (running).',
    ['status'],
  );
  private readonly runnable = this.gauge(
    'cdrex_jobs_runnable',
    'Jobs due and waiting for a worker, by task (the queue depth).',
    ['task'],
  );
  private readonly running = this.gauge('cdrex_jobs_running', 'Jobs held by a live worker lease, by task.', [
    'task',
  ]);
  private readonly oldest = this.gauge(
    'cdrex_jobs_oldest_runnable_age_seconds',
    'How long the oldest runnable job has been due, by task; 0 when none is waiting.',
    ['task'],
  );
  private readonly defaultRows = this.gauge(
    'cdrex_default_partition_rows',
    'CDR rows in the DEFAULT partition of cdrs, which should stay empty (docs/operations.md).',
  );
  private readonly poolGauges = {
    max: this.gauge('cdrex_db_pool_max', 'The most connections a pool opens.', ['pool']),
    total: this.gauge('cdrex_db_pool_connections', 'Connections a pool has open.', ['pool']),
    idle: this.gauge('cdrex_db_pool_idle', 'Open connections no one is using.', ['pool']),
    waiting: this.gauge('cdrex_db_pool_waiting', 'Callers waiting for a connection.', ['pool']),
  };

  constructor(private readonly sources: ScrapeSources) {}

  get contentType(): string {
    return registry.contentType;
  }

  async render(): Promise<string> {
    this.readPools();
    this.showStore(await this.readStore());
    return `${await registry.metrics()}\n${await this.local.metrics()}`;
  }

  private readPools(): void {
    for (const [name, pool] of Object.entries(this.sources.pools)) {
      const pool_ = { pool: name };
      this.poolGauges.max.set(pool_, (pool.options as { max?: number }).max ?? 10);
      this.poolGauges.total.set(pool_, pool.totalCount);
      this.poolGauges.idle.set(pool_, pool.idleCount);
      this.poolGauges.waiting.set(pool_, pool.waitingCount);
    }
  }

  private async readStore(): Promise<StoreGauges | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.sources.timeoutMs ?? STORE_TIMEOUT_MS);
    });
    const read = readStoreGauges(this.sources.probe).catch(() => undefined);
    try {
      return await Promise.race([read, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private showStore(store: StoreGauges | undefined): void {
    for (const g of [this.exports, this.runnable, this.running, this.oldest, this.defaultRows]) g.reset();
    this.storeUp.set(store ? 1 : 0);
    if (!store) return;
    for (const status of ['pending', 'processing']) this.exports.set({ status }, store.exports[status] ?? 0);
    for (const task of new Set([...this.sources.tasks, ...store.jobs.map((q) => q.task)])) {
      const queue = store.jobs.find((q) => q.task === task);
      this.runnable.set({ task }, queue?.runnable ?? 0);
      this.running.set({ task }, queue?.running ?? 0);
      this.oldest.set({ task }, queue?.oldest_runnable_s ?? 0);
    }
    this.defaultRows.set(store.defaultPartitionRows);
  }
}

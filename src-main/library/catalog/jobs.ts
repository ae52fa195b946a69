// The jobs and job_events tables: each job's outcome and the log of its main events.
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { readJson } from './columns.js';
import { CatalogArea, requireRow, type CatalogConnection } from './connection.js';
import type { JobRecord, JsonValue, RecordedJobEvent, RecordedJobStatus } from './records.js';

interface JobRow {
  id: string;
  kind: string;
  started_at: string;
  finished_at: string | null;
  status: RecordedJobStatus;
  summary: string | null;
}
interface JobEventRow {
  job_id: string;
  seq: number;
  at: string;
  type: string;
  data: string;
}

export const JOB_SQL = {
  insertJob: `INSERT INTO jobs (id, kind, started_at, finished_at, status, summary)
    VALUES (?, ?, ?, NULL, 'running', NULL)`,
  finishJob: `UPDATE jobs SET finished_at = ?, status = ?, summary = ?
    WHERE id = ? AND status = 'running'`,
  failRunningJobs: `UPDATE jobs SET finished_at = ?, status = 'failed', summary = ? WHERE status = 'running'`,
  getJob: 'SELECT id, kind, started_at, finished_at, status, summary FROM jobs WHERE id = ?',
  recentJobs: `SELECT id, kind, started_at, finished_at, status, summary FROM jobs
    ORDER BY started_at DESC, id LIMIT ?`,
  latestJobOfKind: `SELECT id, kind, started_at, finished_at, status, summary FROM jobs
    WHERE kind = ? ORDER BY started_at DESC LIMIT 1`,
  insertJobEvent: `INSERT INTO job_events (job_id, seq, at, type, data)
    SELECT :jobId, coalesce(max(seq), 0) + 1, :at, :type, :data FROM job_events WHERE job_id = :jobId
    RETURNING seq`,
  jobEvents: 'SELECT job_id, seq, at, type, data FROM job_events WHERE job_id = ? ORDER BY seq',
} as const;

function prepareStatements(db: Database.Database) {
  const sql = JOB_SQL;
  return {
    insertJob: db.prepare<[string, string, string]>(sql.insertJob),
    finishJob: db.prepare<[string, RecordedJobStatus, string | null, string]>(sql.finishJob),
    failRunningJobs: db.prepare<[string, string]>(sql.failRunningJobs),
    getJob: db.prepare<[string], JobRow>(sql.getJob),
    recentJobs: db.prepare<[number], JobRow>(sql.recentJobs),
    latestJobOfKind: db.prepare<[string], JobRow>(sql.latestJobOfKind),
    insertJobEvent: db.prepare<[{ jobId: string; at: string; type: string; data: string }], number>(
      sql.insertJobEvent,
    ).pluck(),
    jobEvents: db.prepare<[string], JobEventRow>(sql.jobEvents),
  };
}

/** The jobs and job_events tables; Catalog's methods of the same names document each method. */
export class JobQueries extends CatalogArea<ReturnType<typeof prepareStatements>> {
  constructor(connection: CatalogConnection) {
    super(connection, prepareStatements);
  }

  startJob(kind: string, id: string = randomUUID()): string {
    this.connection.guard(() => this.statements.insertJob.run(id, kind, this.connection.timestamp()));
    return id;
  }

  finishJob(id: string, status: Exclude<RecordedJobStatus, 'running'>, summary?: JsonValue): boolean {
    return this.connection.guard(() => {
      const summaryText = summary === undefined ? null : JSON.stringify(summary);
      return this.statements.finishJob.run(this.connection.timestamp(), status, summaryText, id).changes > 0;
    });
  }

  failInterruptedJobs(): number {
    const summary = JSON.stringify({ interrupted: true, message: 'The process running this job ended before the job finished.' });
    return this.connection.guard(() => this.statements.failRunningJobs.run(this.connection.timestamp(), summary).changes);
  }

  addJobEvent(jobId: string, type: string, data: JsonValue): number {
    return this.connection.guard(() => {
      const at = this.connection.timestamp();
      const seq = this.statements.insertJobEvent.get({ jobId, at, type, data: JSON.stringify(data) });
      return requireRow(seq, 'addJobEvent');
    });
  }

  getJob(id: string): JobRecord | undefined {
    return this.connection.guard(() => {
      const row = this.statements.getJob.get(id);
      return row === undefined ? undefined : this.toJob(row);
    });
  }

  recentJobs(limit: number): JobRecord[] {
    return this.connection.guard(() => this.statements.recentJobs.all(limit).map((row) => this.toJob(row)));
  }

  latestJob(kind: string): JobRecord | undefined {
    return this.connection.guard(() => {
      const row = this.statements.latestJobOfKind.get(kind);
      return row === undefined ? undefined : this.toJob(row);
    });
  }

  jobEvents(jobId: string): RecordedJobEvent[] {
    const { file } = this.connection;
    return this.connection.guard(() =>
      this.statements.jobEvents.all(jobId).map((row) => ({
        jobId: row.job_id,
        seq: row.seq,
        at: row.at,
        type: row.type,
        data: readJson(file, row.data, `event ${row.seq} of job ${row.job_id}`),
      })),
    );
  }

  private toJob(row: JobRow): JobRecord {
    return {
      id: row.id,
      kind: row.kind,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      status: row.status,
      summary: row.summary === null ? null : readJson(this.connection.file, row.summary, `summary of job ${row.id}`),
    };
  }
}

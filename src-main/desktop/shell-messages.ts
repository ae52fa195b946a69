/** What the engine's utility process tells the main process (taskbar progress, end-of-job notifications). */
export type ShellMessage =
  | { type: 'progress'; jobId: string; bytesDone: number; bytesTotal: number }
  | { type: 'ended'; jobId: string; kind: string; state: string; durationMs: number };

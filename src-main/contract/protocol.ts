// The wire protocol, the same over a WebSocket (each message one JSON text frame) and over a
// MessagePort (each message posted as it is): the client sends `call`s, the engine answers each
// with one `reply` carrying the same id, and pushes `event`s of the jobs the connection subscribed
// to. Plain data only, so structuredClone and JSON carry it unchanged.

import { z } from 'zod';
import { CALL_NAMES, type CallName } from './calls.js';
import { apiErrorSchema, jobEventSchema } from './outputs.js';

/** client → engine. `id` is the caller's, echoed in the reply; `input` is checked against calls[call].input. */
export const callMessageSchema = z.object({
  type: z.literal('call'),
  id: z.number().int().nonnegative(),
  call: z.enum(CALL_NAMES as [CallName, ...CallName[]], { error: `one of ${CALL_NAMES.join(', ')}` }),
  input: z.unknown(),
});

export const replyMessageSchema = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('reply'), id: z.number(), ok: z.literal(true), value: z.unknown() }),
  z.object({ type: z.literal('reply'), id: z.number(), ok: z.literal(false), error: apiErrorSchema }),
]);

/** A job event for a subscribed job; `seq` counts that job's events from 1 (see jobs.subscribe). */
export const eventMessageSchema = z.object({ type: z.literal('event'), seq: z.number(), event: jobEventSchema });

export type CallMessage = z.infer<typeof callMessageSchema>;
export type ReplyMessage = z.infer<typeof replyMessageSchema>;
export type EventMessage = z.infer<typeof eventMessageSchema>;
export type ServerMessage = ReplyMessage | EventMessage;

/**
 * The id of a reply to a call that could not be read (not an object, no numeric id): the engine
 * still answers, so a client sees why, but no pending call matches it.
 */
export const UNREADABLE_CALL_ID = -1;

/**
 * The WebSocket's path relative to the page. Browser mode serves everything under `/<token>/`, so
 * the page's relative URLs (assets, and this socket) all carry the token without a cookie.
 */
export const SOCKET_PATH = 'api';

/**
 * The close code of a WebSocket whose client read so slowly that the engine would have had to hold
 * more than its limit for it (web/outbox.ts): reconnect, and reattach to each job with
 * jobs.subscribe from the last seq seen. (4000-4999: codes for applications, RFC 6455 §7.4.2.)
 */
export const SLOW_CLIENT_CLOSE_CODE = 4008;

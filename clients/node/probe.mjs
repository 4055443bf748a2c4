// resetlab: one request with @anthropic-ai/sdk, reported as ONE JSON line on stdout.
//
// Input: a JSON object, as argv[2] or on stdin (when argv[2] is missing or "-"):
//   base_url     string   the API base URL (the mock origin)
//   api_key      string   the key to send (a lab key, never a real one)
//   body         object   the Messages API request body (model, max_tokens, messages, system...)
//   stream       bool     stream (messages.create({stream: true}) iterated) or not
//   max_retries  int      the SDK's maxRetries
//   timeout_ms   number   the SDK's timeout (it covers the fetch, i.e. until response headers)
//   deadline_ms  number   our own wall-clock limit for the whole request (abort, report "timeout")
//   headers      object   extra request headers (x-resetlab-plan, x-resetlab-probe-id, ...)
//   think_ms     number?  first a HEAD / (the same global fetch pool), then idle this long: the
//                         probe reuses that pooled connection
//   ca_path      string?  trust this CA PEM (NODE_EXTRA_CA_CERTS is read at startup, so the
//                         Python side sets that variable; this field is informational)
//
// Output: {end, status, t_headers_ms, t_failure_ms, t_total_ms, events, event_types,
//          message_stop, stop_reason, sse_error_type, error_type, request_id, cf_ray,
//          http_version, attempts, attempt_starts_ms, deadline_hit, error, sdk_version,
//          node_version}
// where error = {class, name, message, status, type, chain: [{name, message, code, errno,
// syscall}]} walks err.cause; end is one of complete | eof | reset | timeout | connect_error
// (the Python side turns this into an Observation; this script only reports what it saw).

import { readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import { VERSION as SDK_VERSION } from '@anthropic-ai/sdk/version';

function readInput() {
  const arg = process.argv[2];
  const text = arg && arg !== '-' ? arg : readFileSync(0, 'utf8');
  return JSON.parse(text);
}

function chainOf(err) {
  const out = [];
  const seen = new Set();
  let cur = err;
  while (cur && typeof cur === 'object' && !seen.has(cur) && out.length < 10) {
    seen.add(cur);
    out.push({
      name: cur.name ?? cur.constructor?.name ?? null,
      class: cur.constructor?.name ?? null,
      message: typeof cur.message === 'string' ? cur.message : String(cur),
      code: cur.code ?? null,
      errno: typeof cur.errno === 'number' ? cur.errno : null,
      syscall: cur.syscall ?? null,
    });
    cur = cur.cause;
  }
  return out;
}

const CODES_RESET = new Set(['ECONNRESET', 'EPIPE']);
const CODES_CONNECT = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ENOTFOUND',
  'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

async function main() {
  const p = readInput();
  if (p.think_ms) {
    await globalThis.fetch(`${p.base_url.replace(/\/$/, '')}/`, { method: 'HEAD', headers: { 'x-api-key': p.api_key } });
    await new Promise((resolve) => setTimeout(resolve, p.think_ms));
  }
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 1000) / 1000;
  const out = {
    end: null, status: null, t_headers_ms: null, t_failure_ms: null, t_total_ms: null,
    events: 0, event_types: [], message_stop: false, stop_reason: null, sse_error_type: null,
    error_type: null, request_id: null, cf_ray: null, http_version: null, attempts: 0,
    attempt_starts_ms: [], deadline_hit: false, error: null, sdk_version: SDK_VERSION,
    node_version: process.version,
  };
  let headersSeen = false; // for the LAST attempt
  const countingFetch = async (url, init) => {
    out.attempts += 1;
    out.attempt_starts_ms.push(ms());
    headersSeen = false;
    const r = await globalThis.fetch(url, init);
    headersSeen = true;
    out.t_headers_ms = ms();
    out.status = r.status;
    out.request_id = r.headers.get('request-id');
    out.cf_ray = r.headers.get('cf-ray');
    out.http_version = '1.1'; // undici's fetch on Node 20 speaks HTTP/1.1 only
    return r;
  };
  const abort = new AbortController();
  const deadline = setTimeout(() => { out.deadline_hit = true; abort.abort(); }, p.deadline_ms);
  const client = new Anthropic({
    baseURL: p.base_url, apiKey: p.api_key, maxRetries: p.max_retries, timeout: p.timeout_ms,
    fetch: countingFetch, defaultHeaders: p.headers || {},
  });
  try {
    if (p.stream) {
      const stream = await client.messages.create({ ...p.body, stream: true },
        { signal: abort.signal });
      for await (const event of stream) {
        out.events += 1;
        if (out.event_types.length < 200) out.event_types.push(event.type);
        if (event.type === 'message_delta') out.stop_reason = event.delta?.stop_reason ?? null;
        if (event.type === 'message_stop') out.message_stop = true;
      }
    } else {
      const body = { ...p.body };
      delete body.stream;
      const msg = await client.messages.create(body, { signal: abort.signal });
      out.message_stop = msg?.type === 'message';
      out.stop_reason = msg?.stop_reason ?? null;
    }
    out.end = 'complete';
  } catch (err) {
    out.t_failure_ms = ms();
    const chain = chainOf(err);
    out.error = {
      class: err?.constructor?.name ?? null, name: err?.name ?? null,
      message: typeof err?.message === 'string' ? err.message : String(err),
      status: err?.status ?? null, type: err?.type ?? err?.error?.error?.type ?? null,
      chain,
    };
    const codes = chain.map((c) => c.code).filter(Boolean);
    if (out.deadline_hit) {
      out.end = 'timeout';
    } else if (err instanceof Anthropic.APIConnectionTimeoutError) {
      out.end = 'timeout';
    } else if (err instanceof Anthropic.APIError && err.status) {
      // an HTTP error status (after the SDK's own retries)
      out.error_type = err.type ?? err.error?.error?.type ?? null;
      out.status = err.status;
      out.end = 'complete';
    } else if (err instanceof Anthropic.APIError && headersSeen && !(err instanceof Anthropic.APIConnectionError)
               && !(err instanceof Anthropic.APIUserAbortError)) {
      // an `event: error` inside a 200 stream: the SDK throws APIError with no status
      out.error_type = err.type ?? err.error?.error?.type ?? null;
      out.sse_error_type = out.error_type ?? 'unknown';
      out.end = 'complete';
    } else if (codes.some((c) => CODES_RESET.has(c))) {
      out.end = 'reset';
    } else if (!headersSeen && codes.some((c) => CODES_CONNECT.has(c))) {
      out.end = 'connect_error';
    } else {
      // "other side closed" (UND_ERR_SOCKET), "terminated" without a code, ...: a FIN
      out.end = 'eof';
    }
    if (!headersSeen && !(err instanceof Anthropic.APIError && err.status)) {
      out.status = null; // the last attempt got no response headers
      out.t_headers_ms = null;
      out.request_id = null;
      out.cf_ray = null;
    }
  } finally {
    clearTimeout(deadline);
  }
  if (out.deadline_hit && out.end !== 'timeout') {
    // an abort while iterating ends the SDK's stream quietly: it was still our timer
    out.end = 'timeout';
    out.t_failure_ms ??= ms();
  }
  out.t_total_ms = ms();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ end: null, fatal: String(err?.stack ?? err) }) + '\n');
  process.exitCode = 3;
});

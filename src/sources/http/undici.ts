import dispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import apiRequest from 'undici/lib/api/api-request.js';
import type { Dispatcher } from 'undici';

/**
 * The parts of undici the HTTP source uses, each from its own file. undici's index loads all of
 * undici (fetch, WebSocket, caches, mock agents, every interceptor): ~90 ms of CPU before an
 * importer's first request, for code it never runs (docs/adr/0032). The index also mixes the
 * request API into every dispatcher; `dispatcher.request()` needs that one method, so it is
 * mixed in here the same way. A file moved by an undici upgrade fails every HTTP source test.
 */
const prototype = dispatcherClass.prototype as { request?: Dispatcher['request'] };
prototype.request ??= apiRequest;

export { default as Agent } from 'undici/lib/dispatcher/agent.js';
export { default as EnvHttpProxyAgent } from 'undici/lib/dispatcher/env-http-proxy-agent.js';

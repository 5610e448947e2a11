import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher as UndiciDispatcher, EnvHttpProxyAgent as UndiciEnvHttpProxyAgent } from 'undici';

/**
 * The parts of undici the HTTP source uses, each from its own file. undici's index loads all of
 * undici (fetch, WebSocket, caches, mock agents, every interceptor): ~90 ms of CPU before an
 * importer's first request, for code it never runs (docs/adr/0032). The index also mixes the
 * request API into every dispatcher; `dispatcher.request()` needs that one method, so it is
 * mixed in here the same way. A file moved by an undici upgrade fails every HTTP source test.
 */
const require = createRequire(import.meta.url);

const dispatcherClass = require('undici/lib/dispatcher/dispatcher.js') as typeof UndiciDispatcher;
const prototype = dispatcherClass.prototype as { request?: UndiciDispatcher['request'] };
prototype.request ??= require('undici/lib/api/api-request.js') as UndiciDispatcher['request'];

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;

/** Loaded only when a proxy is configured. */
export function envHttpProxyAgent(): typeof UndiciEnvHttpProxyAgent {
  return require('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof UndiciEnvHttpProxyAgent;
}

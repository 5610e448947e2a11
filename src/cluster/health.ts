import fastify, { type FastifyInstance } from 'fastify';
import { register as defaultRegistry, type Registry } from 'prom-client';

/**
 * Liveness, readiness and Prometheus metrics of a cluster-mode process on one plain-HTTP port
 * (the kubelet probes it; Prometheus scrapes it). `/readyz` turns 503 while the process shuts
 * down, so the Service stops routing to it before it exits.
 */
export interface HealthOptions {
  ready(): boolean;
  registry?: Registry;
}

export function buildHealthServer(opts: HealthOptions): FastifyInstance {
  const app = fastify({ logger: false });
  const registry = opts.registry ?? defaultRegistry;
  app.get('/healthz', async () => 'OK');
  app.get('/readyz', async (_req, reply) => (opts.ready() ? 'OK' : reply.code(503).send('not ready')));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return app as unknown as FastifyInstance;
}

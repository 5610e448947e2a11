import { Registry, Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildHealthServer } from './health.ts';

describe('health server', () => {
  it('answers liveness always, readiness while ready, and serves its registry', async () => {
    let ready = true;
    const registry = new Registry();
    new Gauge({ name: 'leader_election_master_status', help: 'h', labelNames: ['name'], registers: [registry] }).set({ name: 'lock' }, 1);
    const app = buildHealthServer({ ready: () => ready, registry });
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    ready = false;
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('leader_election_master_status{name="lock"} 1');
    await app.close();
  });
});

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ProbePlan } from './pod-plan.ts';

/**
 * One readiness probe attempt as the kubelet makes it: HTTP(S) GET where 200–399 passes (TLS not
 * verified, as the kubelet does not verify) or a TCP connect. Exec probes are refused at
 * admission: a command would run on the host, not in a container.
 */
export function runProbe(probe: ProbePlan, timeoutMs: number): Promise<boolean> {
  switch (probe.type) {
    case 'http':
      return httpProbe(probe, timeoutMs);
    case 'tcp':
      return tcpProbe(probe.port, timeoutMs);
  }
}

function httpProbe(probe: Extract<ProbePlan, { type: 'http' }>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const mod = probe.scheme === 'https' ? https : http;
    const req = mod.request(
      {
        host: '127.0.0.1',
        port: probe.port,
        path: probe.path,
        method: 'GET',
        headers: { 'user-agent': 'kube-probe/cdi-local', ...probe.headers },
        timeout: timeoutMs,
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function tcpProbe(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(false));
  });
}

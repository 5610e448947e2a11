import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { silentLogger } from '../../src/api/logger.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { CdiLeaderLockName } from '../../src/cluster/leader-election.ts';

/**
 * Two cluster-mode controllers (src/cluster/controller/main.ts, real processes) against the
 * embedded API server, which serves coordination.k8s.io Leases: one leads and runs the
 * DataVolume controller, the other stands by; SIGKILL the leader and the standby takes over
 * once the lease runs out; SIGTERM releases the lease at once. Timings are shortened by flags
 * (lease 2 s, renew deadline 1.5 s, retry 0.25 s); the defaults are controller-runtime's.
 */

const repo = join(import.meta.dirname, '..', '..');
const LeaseSeconds = 2;

interface Replica {
  name: string;
  healthPort: number;
  child: ChildProcessWithoutNullStreams;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

describe('controller leader election against the embedded API server', () => {
  let dataDir: string;
  let api: ApiServerHandle;
  let leases: CoordinationV1Api;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cdi-leader-'));
    api = await startApiServer({ dataDir, logger: silentLogger });
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    leases = kc.makeApiClient(CoordinationV1Api);
    // the deploy manifests create the namespace; the controller does not
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'cdi' } } });
  });

  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    await api?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function startReplica(name: string): Promise<Replica> {
    const child = spawn(
      process.execPath,
      [
        join(repo, 'src/cluster/controller/main.ts'),
        '--kubeconfig', api.kubeconfigPath,
        '--namespace', 'cdi',
        '--health-address', '127.0.0.1',
        '--health-port', '0',
        '--lease-duration', String(LeaseSeconds),
        '--renew-deadline', '1.5',
        '--retry-period', '0.25',
      ],
      { env: { ...process.env, POD_NAME: name, LOG_LEVEL: 'info' } },
    );
    const replica: Replica = { name, healthPort: 0, child, lines: [], exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          // The replica binds port 0 (no race with other tests for a "free" port) and logs it.
          if (typeof entry.healthPort === 'number') replica.healthPort = entry.healthPort;
          replica.lines.push(entry);
        } catch {
          replica.lines.push({ msg: line });
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => replica.lines.push({ msg: chunk.toString(), stderr: true }));
    replicas.push(replica);
    return replica;
  }

  const logged = (r: Replica, msg: string) => r.lines.some((l) => l.msg === msg);

  const until = <T>(what: string, probe: () => T | undefined | false) =>
    eventually(probe, () => `${what}: ${JSON.stringify(replicas.map((r) => [r.name, r.lines.slice(-3).map((l) => l.msg)]))}`, 20_000);

  /** controller-runtime's leader_election_master_status gauge from the replica's /metrics. */
  async function leaderGauge(r: Replica): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${r.healthPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`leader_election_master_status{name="${CdiLeaderLockName}"}`));
    return Number(line?.split(' ').at(-1));
  }

  const holder = async () => (await leases.readNamespacedLease({ name: CdiLeaderLockName, namespace: 'cdi' })).spec;

  it('one replica leads and runs the controller; killing it hands over within the lease; SIGTERM releases', async () => {
    const a = await startReplica('replica-a');
    const b = await startReplica('replica-b');
    await until('both replicas to serve health', () => a.healthPort > 0 && b.healthPort > 0);
    const leader = await until('a leader', () => [a, b].find((r) => logged(r, 'became leader')));
    const standby = leader === a ? b : a;
    await until('the leader to start the controller', () => logged(leader, 'controller started'));
    const spec = await holder();
    expect(spec?.holderIdentity).toMatch(new RegExp(`^${leader.name}_`));
    expect(spec?.leaseDurationSeconds).toBe(LeaseSeconds);

    // The standby keeps campaigning and never acts while the lease is renewed: wait until the
    // leader has renewed it a whole lease duration past its first renewal.
    const renewedAt = async () => new Date((await holder())?.renewTime ?? 0).getTime();
    const firstRenewal = await renewedAt();
    await eventually(async () => (await renewedAt()) > firstRenewal + LeaseSeconds * 1000, 'the leader to renew through a whole lease duration', 20_000);
    expect(await leaderGauge(leader)).toBe(1);
    expect(await leaderGauge(standby)).toBe(0);
    expect((await fetch(`http://127.0.0.1:${standby.healthPort}/readyz`)).status).toBe(200);
    expect(logged(standby, 'became leader')).toBe(false);
    expect(logged(standby, 'controller started')).toBe(false);
    expect((await holder())?.holderIdentity).toBe(spec?.holderIdentity);

    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await leader.exited;
    await until('the standby to take over', () => logged(standby, 'became leader'));
    const takeoverMs = Date.now() - killedAt;
    console.info(`standby took over ${takeoverMs} ms after SIGKILL of the leader (lease ${LeaseSeconds} s)`);
    // lease duration on the standby's clock, plus one retry period and process/scheduling slack
    expect(takeoverMs).toBeLessThan(LeaseSeconds * 1000 + 250 + 3000);
    await until('the new leader to start the controller', () => logged(standby, 'controller started'));
    const after = await holder();
    expect(after?.holderIdentity).toMatch(new RegExp(`^${standby.name}_`));
    expect(after?.leaseTransitions).toBe((spec?.leaseTransitions ?? 0) + 1);

    standby.child.kill('SIGTERM');
    expect(await standby.exited).toBe(0);
    expect((await holder())?.holderIdentity).toBe('');
  });
});

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CertFiles } from './certs.ts';
import { freePort, waitForPort } from './ports.ts';

const run = promisify(execFile);

export interface NginxOptions {
  /** Directory served on every listener. */
  root: string;
  /** Server certificate for the TLS listeners (makeCerts). Without it, no TLS listeners. */
  certs?: CertFiles;
  /** Basic-auth user and password for the auth listeners. Default: tester / s3cret. */
  user?: string;
  password?: string;
  /** Rate of the rate-limited listener (nginx `limit_rate`). Default `2m`. */
  limitRate?: string;
}

/** What the header listener requires (403 otherwise): `X-Plain: yes` and `X-Cdi-Token: <token>`. */
export const requiredHeaders = { plain: 'X-Plain: yes', tokenName: 'X-Cdi-Token', token: 'h3ader-t0ken' } as const;

/** CDI's file-host listener set, as base URLs (no trailing slash). */
export interface Nginx {
  plain: string;
  auth: string;
  limited: string;
  /** Serves only requests carrying `requiredHeaders`. */
  header: string;
  tls?: string;
  tlsAuth?: string;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/** Starts nginx from a private prefix on ephemeral ports: plain, basic auth, rate-limited, TLS, TLS + auth. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-nginx-'));
  await mkdir(path.join(dir, 'temp'));
  const user = options.user ?? 'tester';
  const password = options.password ?? 's3cret';
  const { stdout } = await run('htpasswd', ['-bn', user, password]);
  await writeFile(path.join(dir, 'htpasswd'), stdout);
  const ports = { plain: await freePort(), auth: await freePort(), limited: await freePort(), header: await freePort(), tls: await freePort(), tlsAuth: await freePort() };
  const root = `root ${options.root};`;
  const auth = `auth_basic "cdi"; auth_basic_user_file ${dir}/htpasswd;`;
  const tls = options.certs
    ? `ssl_certificate ${options.certs.serverCert}; ssl_certificate_key ${options.certs.serverKey}; ssl_protocols TLSv1.2 TLSv1.3;`
    : '';
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/temp/${t};`).join(' ');
  const servers = [
    `server { listen 127.0.0.1:${ports.plain}; ${root} }`,
    `server { listen 127.0.0.1:${ports.auth}; ${root} ${auth} }`,
    `server { listen 127.0.0.1:${ports.limited}; ${root} limit_rate ${options.limitRate ?? '2m'}; }`,
    `server { listen 127.0.0.1:${ports.header}; ${root} if ($http_x_plain != "yes") { return 403; } if ($http_x_cdi_token != "${requiredHeaders.token}") { return 403; } }`,
    ...(options.certs ? [
      `server { listen 127.0.0.1:${ports.tls} ssl; ${root} ${tls} }`,
      `server { listen 127.0.0.1:${ports.tlsAuth} ssl; ${root} ${tls} ${auth} }`,
    ] : []),
  ];
  const conf = `worker_processes 1; daemon off; user root; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 512; }
http { access_log off; sendfile on; default_type application/octet-stream; ${temp}
${servers.join('\n')}
}
`;
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(ports.plain);
  const base = (port: number, scheme = 'http'): string => `${scheme}://127.0.0.1:${port}`;
  return {
    plain: base(ports.plain),
    auth: base(ports.auth),
    limited: base(ports.limited),
    header: base(ports.header),
    ...(options.certs ? { tls: base(ports.tls, 'https'), tlsAuth: base(ports.tlsAuth, 'https') } : {}),
    user,
    password,
    async stop() {
      // SIGTERM is nginx's fast shutdown: it does not wait for idle keep-alive connections.
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

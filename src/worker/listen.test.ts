import { describe, expect, it } from 'vitest';
import { listenAddress } from './listen.ts';

describe('worker listen address', () => {
  it('listens on every address on 8443 in a pod', () => {
    expect(listenAddress({})).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(listenAddress({ CDI_LISTEN_PORT: '' })).toEqual({ host: '0.0.0.0', port: 8443 });
  });

  it('stays on loopback on the port the node agent gives (0: any free port)', () => {
    expect(listenAddress({ CDI_LISTEN_PORT: '40001' })).toEqual({ host: '127.0.0.1', port: 40001 });
    expect(listenAddress({ CDI_LISTEN_PORT: '0' })).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it.each(['http', '-1', '65536', '1.5', ' 80'])('refuses CDI_LISTEN_PORT=%j with a coded error', (value) => {
    expect(() => listenAddress({ CDI_LISTEN_PORT: value })).toThrow(expect.objectContaining({
      code: 'CDI_ERR_WORKER_LISTEN_PORT',
      message: `CDI_LISTEN_PORT "${value}" is not a TCP port`,
    }));
  });
});

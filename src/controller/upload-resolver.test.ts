import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LocalSocketAnnotation, PortMapAnnotation } from '../api/local-ports.ts';
import { uploadServerUrl } from './upload-resolver.ts';

const pod = (annotations: Record<string, string>): V1Pod => ({ metadata: { annotations }, status: { podIP: '127.0.0.1' } });

describe('uploadServerUrl', () => {
  it("is the pod's Service in a cluster", () => {
    expect(uploadServerUrl(pod({}), 'ns1', 'disk')).toBe('https://cdi-upload-disk.ns1.svc:8443');
  });

  it('is the mapped local port in embedded mode, and the owner-only socket when the agent made one', () => {
    expect(uploadServerUrl(pod({ [PortMapAnnotation]: '{"8443":40001}' }), 'ns1', 'disk')).toBe('https://127.0.0.1:40001');
    expect(uploadServerUrl(pod({ [PortMapAnnotation]: '{"8443":40001}', [LocalSocketAnnotation]: '/tmp/cdi-sockets-a/u.sock' }), 'ns1', 'disk')).toBe(
      'unix:/tmp/cdi-sockets-a/u.sock',
    );
  });
});

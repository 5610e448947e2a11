import { describe, expect, it } from 'vitest';
import { regionOf, s3ObjectUrl } from './s3-source.ts';
import { signV4 } from './sigv4.ts';

describe('SigV4', () => {
  it("matches AWS's documented GET Object example", () => {
    const headers: Record<string, string> = { range: 'bytes=0-9' };
    signV4('GET', new URL('https://examplebucket.s3.amazonaws.com/test.txt'), headers,
      { accessKey: 'AKIAIOSFODNN7EXAMPLE', secretKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }, 'us-east-1', new Date('2013-05-24T00:00:00Z'));
    expect(headers.authorization).toBe('AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, '
      + 'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });
});

describe('S3 endpoints as CDI reads them', () => {
  it('derives the region', () => {
    expect(regionOf('s3.us-west-2.amazonaws.com')).toBe('us-west-2');
    expect(regionOf('minio.example.com:9000')).toBe('minio');
    expect(regionOf('127.0.0.1:9000')).toBe('127');
  });

  it('uses path-style URLs; s3:// means https', () => {
    expect(s3ObjectUrl('http://127.0.0.1:9000/bucket/dir/disk.img').url.toString()).toBe('http://127.0.0.1:9000/bucket/dir/disk.img');
    const aws = s3ObjectUrl('s3://s3.eu-west-1.amazonaws.com/b/k.qcow2');
    expect(aws.url.toString()).toBe('https://s3.eu-west-1.amazonaws.com/b/k.qcow2');
    expect(aws.region).toBe('eu-west-1');
    expect(() => s3ObjectUrl('http://host/bucket-only')).toThrow(/names no bucket and object/);
  });
});

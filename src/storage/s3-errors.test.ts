import { describe, expect, it } from 'vitest';
import { isOciError } from '../oci/errors.js';
import { isNotFound, isPreconditionFailed, s3Error } from './s3-errors.js';

describe('s3Error', () => {
  it('an unreachable store is 503 STORAGE_UNAVAILABLE with the errno as reason, never the message (it names the endpoint)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:7480'), { code: 'ECONNREFUSED', $metadata: {} });
    const err = s3Error(refused, 'open blob');
    expect(err.code).toBe('STORAGE_UNAVAILABLE');
    expect(err.detail).toEqual({ reason: 'ECONNREFUSED', operation: 'open blob' });
    expect(JSON.stringify(err.toJSON())).not.toContain('10.1.2.3');
  });

  it('a store answer: 5xx, a missing bucket or refused keys are 503; a quota is 507 STORAGE_FULL', () => {
    const answer = (name: string, status: number) => Object.assign(new Error(`${name} at bucket secret-bucket`), { name, $metadata: { httpStatusCode: status } });
    expect(s3Error(answer('InternalError', 500), 'put blob').code).toBe('STORAGE_UNAVAILABLE');
    expect(s3Error(answer('NoSuchBucket', 404), 'put blob').code).toBe('STORAGE_UNAVAILABLE');
    expect(s3Error(answer('InvalidAccessKeyId', 403), 'put blob').code).toBe('STORAGE_UNAVAILABLE');
    const full = s3Error(answer('QuotaExceeded', 403), 'put blob');
    expect(full.code).toBe('STORAGE_FULL');
    expect(JSON.stringify(full.toJSON())).not.toContain('secret-bucket');
  });

  it('an OciError passes through; a missing bucket is not "no such object"; 412 is a lost conditional write', () => {
    const oci = s3Error(new Error('x'), 'op');
    expect(isOciError(s3Error(oci, 'other'))).toBe(true);
    expect(s3Error(oci, 'other')).toBe(oci);
    expect(isNotFound({ name: 'NotFound', $metadata: { httpStatusCode: 404 } })).toBe(true);
    expect(isNotFound({ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } })).toBe(false);
    expect(isPreconditionFailed({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } })).toBe(true);
  });
});

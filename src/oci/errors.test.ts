import { describe, expect, it } from 'vitest';
import { OCI_ERROR_CODES, OciError, isOciError, type OciErrorCode } from './errors.js';

describe('OciError', () => {
  it('serialises to the OCI error body {"errors":[{code,message,detail}]}', () => {
    const err = new OciError('BLOB_UNKNOWN', { detail: { digest: 'sha256:abc' } });
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { digest: 'sha256:abc' } }],
    });
  });

  it('omits detail when there is none, and uses a given message', () => {
    const err = new OciError('NAME_UNKNOWN', { message: 'repository team/app not found' });
    expect(err.toJSON()).toEqual({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository team/app not found' }] });
    expect(Object.keys(err.toJSON().errors[0]!)).toEqual(['code', 'message']);
  });

  it('keeps falsy details such as 0 or an empty string', () => {
    expect(new OciError('UNKNOWN', { detail: 0 }).toJSON().errors[0]).toHaveProperty('detail', 0);
    expect(new OciError('UNKNOWN', { detail: '' }).toJSON().errors[0]).toHaveProperty('detail', '');
  });

  it.each(Object.entries(OCI_ERROR_CODES))('%s takes its status and message from the table', (code, entry) => {
    const err = new OciError(code as OciErrorCode);
    expect(err.status).toBe(entry.status);
    expect(err.message).toBe(entry.message);
    expect(err.code).toBe(code);
  });

  it('has the statuses the distribution spec and HTTP require for the common codes', () => {
    expect(new OciError('BLOB_UNKNOWN').status).toBe(404);
    expect(new OciError('MANIFEST_UNKNOWN').status).toBe(404);
    expect(new OciError('DIGEST_INVALID').status).toBe(400);
    expect(new OciError('UNAUTHORIZED').status).toBe(401);
    expect(new OciError('DENIED').status).toBe(403);
    expect(new OciError('RANGE_INVALID').status).toBe(416);
    expect(new OciError('TOOMANYREQUESTS').status).toBe(429);
    expect(new OciError('UPSTREAM_UNAVAILABLE').status).toBe(502);
    expect(new OciError('UPSTREAM_TIMEOUT').status).toBe(504);
  });

  it('lets a caller override the status and add headers, and keeps the cause', () => {
    const cause = new Error('ECONNRESET');
    const err = new OciError('DIGEST_INVALID', { status: 404, headers: { 'Retry-After': '5' }, cause });
    expect(err.status).toBe(404);
    expect(err.headers).toEqual({ 'Retry-After': '5' });
    expect(err.cause).toBe(cause);
  });

  it('has no headers by default', () => {
    expect(new OciError('UNKNOWN').headers).toEqual({});
  });

  it('is an Error that isOciError recognises, and nothing else is', () => {
    const err = new OciError('UNSUPPORTED');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('OciError');
    expect(isOciError(err)).toBe(true);
    expect(isOciError(new Error('x'))).toBe(false);
    expect(isOciError({ code: 'UNSUPPORTED', status: 405 })).toBe(false);
  });
});

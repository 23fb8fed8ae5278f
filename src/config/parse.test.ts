import { describe, expect, it } from 'vitest';
import {
  parseAddr, parseBoolean, parseCount, parseDuration, parseOneOf, parseSize, parseString, parseUrl,
} from './parse.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    ['1.5s', 1500],
    ['0s', 0],
    [' 5m ', 300_000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads "1ms" as milliseconds, not minutes', () => {
    expect(parseDuration('1ms')).toBe(1);
    expect(parseDuration('1m')).toBe(60_000);
  });

  it('reads a number as seconds', () => {
    expect(parseDuration(30)).toBe(30_000);
    expect(parseDuration(0.5)).toBe(500);
  });

  it.each(['', '   ', '5', '5 m', '5min', '-5s', 'm', '5m x', '1h 30m', 's5'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], [true], [null], [{}]])('rejects %j', (value) => {
    expect(() => parseDuration(value)).toThrow(/duration/);
  });
});

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['512', 512],
    ['512b', 512],
    ['512k', 512_000],
    ['512KB', 512_000],
    ['4MiB', 4 * 2 ** 20],
    ['4mib', 4 * 2 ** 20],
    ['4 MiB', 4 * 2 ** 20],
    ['200GiB', 200 * 2 ** 30],
    ['1TiB', 2 ** 40],
    ['2G', 2e9],
    ['1.5KiB', 1536],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('reads a whole number as bytes', () => {
    expect(parseSize(1024)).toBe(1024);
  });

  it.each(['', 'MiB', '4XB', '-1', '4 M iB', '1e3', 'four'])('rejects %j', (text) => {
    expect(() => parseSize(text)).toThrow(/not a size/);
  });

  it.each([[-1], [1.5], [true], [null]])('rejects %j', (value) => {
    expect(() => parseSize(value)).toThrow(/size/);
  });
});

describe('parseAddr', () => {
  it('reads host:port, [ipv6]:port and :port (all interfaces)', () => {
    expect(parseAddr('127.0.0.1:5000')).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(parseAddr('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(parseAddr('[::]:5000')).toEqual({ host: '::', port: 5000 });
    expect(parseAddr(':5000')).toEqual({ host: '0.0.0.0', port: 5000 });
  });

  it.each(['bad', '5000', 'host:', 'host:65536', 'host:123456', '::1:5000', 'host:port'])('rejects %j', (value) => {
    expect(() => parseAddr(value)).toThrow(/host:port/);
  });

  it('rejects a number', () => {
    expect(() => parseAddr(5000)).toThrow(/host:port/);
  });
});

describe('parseUrl', () => {
  it('keeps an http(s) URL and drops trailing slashes', () => {
    expect(parseUrl('https://registry-1.docker.io')).toBe('https://registry-1.docker.io');
    expect(parseUrl('https://registry-1.docker.io/')).toBe('https://registry-1.docker.io');
    expect(parseUrl('http://localhost:5001/prefix//')).toBe('http://localhost:5001/prefix');
  });

  it.each(['registry-1.docker.io', 'ftp://x.example', 'file:///etc/passwd', ''])('rejects %j', (value) => {
    expect(() => parseUrl(value)).toThrow(/URL/);
  });
});

describe('small parsers', () => {
  it('parseBoolean accepts true/false words and rejects others', () => {
    expect([true, 'true', '1', 'yes'].map(parseBoolean)).toEqual([true, true, true, true]);
    expect([false, 'false', '0', 'no'].map(parseBoolean)).toEqual([false, false, false, false]);
    expect(() => parseBoolean('maybe')).toThrow();
    expect(() => parseBoolean(1)).toThrow();
  });

  it('parseCount accepts whole numbers ≥ 1', () => {
    expect(parseCount(4)).toBe(4);
    expect(parseCount('16')).toBe(16);
    for (const bad of [0, -1, 1.5, '', 'x', '2.5', null]) expect(() => parseCount(bad)).toThrow(/whole number/);
  });

  it('parseString turns scalars into strings and rejects objects', () => {
    expect(parseString('x')).toBe('x');
    expect(parseString(42)).toBe('42');
    expect(parseString(false)).toBe('false');
    expect(() => parseString({})).toThrow();
    expect(() => parseString(['a'])).toThrow();
  });

  it('parseOneOf accepts only the listed choices', () => {
    const level = parseOneOf(['info', 'debug'] as const);
    expect(level('debug')).toBe('debug');
    expect(() => level('DEBUG')).toThrow(/one of info, debug/);
  });
});

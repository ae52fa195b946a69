import { describe, expect, it } from 'vitest';
import { describeServing } from '../../../src-main/cli/commands/serve.js';
import type { ServeHandle } from '../../../src-main/engine/index.js';

const handle = (fields: Partial<ServeHandle>): ServeHandle => ({
  bindAddress: '127.0.0.1',
  port: 8080,
  loopbackOnly: true,
  baseUrls: ['http://127.0.0.1:8080/'],
  entryPath: 'streams/v1/index.sjson',
  stop: () => Promise.resolve(),
  ...fields,
});

describe('ferry serve banner', () => {
  it('starts with the boot-source URL and says loopback only by default', () => {
    const lines = describeServing(handle({}), '/srv/mirror').split('\n');
    expect(lines[0]).toBe('http://127.0.0.1:8080/');
    expect(lines[1]).toContain('loopback only');
  });

  it('says a wildcard bind is reachable from other hosts and lists every address', () => {
    const text = describeServing(
      handle({ bindAddress: '0.0.0.0', loopbackOnly: false, baseUrls: ['http://192.0.2.10:8080/', 'http://198.51.100.7:8080/'] }),
      '/media/usb/mirror',
    );
    const lines = text.split('\n');
    expect(lines[0]).toBe('http://192.0.2.10:8080/');
    expect(lines[1]).toBe('Serving /media/usb/mirror read-only on 0.0.0.0:8080 — reachable from other hosts.');
    expect(text).toContain('Also reachable as http://198.51.100.7:8080/\n');
  });

  it('brackets an IPv6 address and warns when a bundle volume has no index', () => {
    const text = describeServing(handle({ bindAddress: '::', loopbackOnly: false, baseUrls: ['http://[2001:db8::1]:8080/'], entryPath: undefined }), '/empty');
    expect(text).toContain('on [::]:8080 — reachable from other hosts');
    expect(text).toContain('Warning: /empty holds no streams/v1/index.sjson or index.json');
  });
});

/**
 * The PROXY protocol reader and writer (plugins/proxy-protocol/parse.ts, encode.ts) against
 * byte-exact vectors: the examples and limits of haproxy's doc/proxy-protocol.txt, and a
 * v2 header HAProxy itself wrote (captured on the wire). Each refusal names its cause.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeProxyHeader, encodeV1, encodeV2 } from '../../../plugins/proxy-protocol/encode.ts';
import { parseProxyHeader, type ParseOptions, type ParseResult } from '../../../plugins/proxy-protocol/parse.ts';

const SIG = '0d0a0d0a000d0a515549540a';
const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const text = (t: string) => Buffer.from(t, 'latin1');
const parse = (b: Buffer, o?: ParseOptions) => parseProxyHeader(b, o);

function done(r: ParseResult): Extract<ParseResult, { state: 'done' }> {
  if (r.state !== 'done') assert.unreachable(`expected done, got ${JSON.stringify(r)}`);
  return r as Extract<ParseResult, { state: 'done' }>;
}
function refused(r: ParseResult, reason: RegExp): void {
  assert.is(r.state, 'error', JSON.stringify(r));
  if (r.state === 'error') assert.match(r.reason, reason);
}

const v1 = suite('PROXY v1 (text)');

v1("the spec's example: TCP4 before an HTTP request", () => {
  const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
  const r = done(parse(text(`${line}GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n`)));
  assert.equal(r, {
    state: 'done', version: 1, consumed: 47, command: 'proxy', family: 'tcp4',
    source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 },
  });
  assert.is(line.length, 47);
});

v1('the longest lines the spec lists: 56 (TCP4), 104 (TCP6), 15 and 107 (UNKNOWN)', () => {
  const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const tcp4 = 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n';
  const tcp6 = `PROXY TCP6 ${f} ${f} 65535 65535\r\n`;
  const worst = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`;
  assert.equal([tcp4.length, tcp6.length, worst.length], [56, 104, 107]);
  assert.is(done(parse(text(tcp4))).consumed, 56);
  const six = done(parse(text(tcp6)));
  assert.is(six.consumed, 104);
  assert.equal(six.source, { address: f, port: 65535 });
  assert.equal(done(parse(text('PROXY UNKNOWN\r\n'))), { state: 'done', version: 1, consumed: 15, command: 'proxy', family: 'unknown' });
  const w = done(parse(text(worst)));
  assert.is(w.consumed, 107);
  assert.is(w.source, undefined, 'UNKNOWN: the rest of the line is ignored, the socket\'s addresses stand');
});

v1('IPv6 is printed as a socket prints it; ports 0 and 65535 are taken', () => {
  const r = done(parse(text('PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:FFFF:10.0.0.1 0 65535\r\n')));
  assert.equal(r.source, { address: '2001:db8::1', port: 0 });
  assert.equal(r.destination, { address: '::ffff:10.0.0.1', port: 65535 });
});

v1('a CRLF past 107 bytes, and no CRLF in 107 bytes, are refused', () => {
  const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  refused(parse(text(`PROXY UNKNOWN ${f} ${f} 65535 655355\r\n`)), /no CRLF within the first 107 bytes/);
  refused(parse(text(`PROXY UNKNOWN ${'x'.repeat(93)}`)), /no CRLF within the first 107 bytes/);
  assert.is(parse(text(`PROXY UNKNOWN ${'x'.repeat(92)}`)).state, 'more', '106 bytes: the CRLF may still come');
  assert.is(parse(text(`PROXY UNKNOWN ${'x'.repeat(91)}\r`)).state, 'more', 'a CR at the 106th byte: its LF may still come');
});

v1('malformed lines: each refused with its cause, as soon as the bytes show it', () => {
  const cases: [string, RegExp][] = [
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /line feed without the carriage return/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', /carriage return not followed by a line feed/],
    ['PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n', /source "1\.2\.3\.04" is not a dotted IPv4/],
    ['PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n', /destination "5\.6\.7\.256"/],
    ['PROXY TCP4 ::1 5.6.7.8 1 2\r\n', /source "::1" is not a dotted IPv4/],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /source "1\.2\.3\.4" is not an IPv6 address/],
    ['PROXY TCP6 ::1 1::2::3 1 2\r\n', /destination "1::2::3" is not an IPv6 address/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', /source port "01" is not 0-65535/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n', /destination port "65536" is not 0-65535/],
    ['PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', /6 fields after PROXY, expected 5/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /4 fields after PROXY, expected 5/],
    ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol "TCP5/],
    ['PROXY TCP4\r\n', /1 fields after PROXY/],
    ['PROXY  TCP4', /unknown protocol/],
    ['PROXY TCP4 1.2.3.4%', /byte 0x25 at 18 cannot be part of a TCP4 line/],
    ['proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /expected a PROXY protocol header, got "proxy TCP4 1…"/],
    ['PROXYTCP4', /expected a PROXY protocol v1 header \("PROXY "\)/],
  ];
  for (const [line, reason] of cases) refused(parse(text(line)), reason);
  // Early: a wrong protocol word or byte is refused before any CRLF.
  refused(parse(text('PROXY TCPX')), /unknown protocol/);
  refused(parse(text('GET')), /expected a PROXY protocol header, got "GET"/);
});

v1('encoded: TCP4, TCP6, an IPv4-mapped client as TCP4, a mixed pair as TCP6, a non-IP as UNKNOWN', () => {
  assert.is(encodeV1({ address: '192.168.0.1', port: 56324 }, { address: '192.168.0.11', port: 443 }).toString('latin1'), 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
  assert.is(encodeV1({ address: '::ffff:127.0.0.2', port: 5 }, { address: '::ffff:127.0.0.1', port: 80 }).toString('latin1'), 'PROXY TCP4 127.0.0.2 127.0.0.1 5 80\r\n');
  assert.is(encodeV1({ address: '2001:db8::1', port: 1 }, { address: '::1', port: 2 }).toString('latin1'), 'PROXY TCP6 2001:db8::1 ::1 1 2\r\n');
  assert.is(encodeV1({ address: '10.0.0.1', port: 1 }, { address: 'fe80::1%eth0', port: 2 }).toString('latin1'), 'PROXY TCP6 ::ffff:10.0.0.1 fe80::1 1 2\r\n');
  assert.is(encodeV1({ address: '', port: 0 }, { address: '127.0.0.1', port: 80 }).toString('latin1'), 'PROXY UNKNOWN\r\n');
});

const v2 = suite('PROXY v2 (binary)');

// Written by HAProxy (send-proxy-v2) for 172.19.0.1:42578 → 172.19.0.3:80, then "GET ".
const HAPROXY_V2_TCP4 = hex(`${SIG} 21 11 000c ac130001 ac130003 a652 0050`);

v2('a header HAProxy wrote: TCP over IPv4, 28 bytes; the client data after it is not consumed', () => {
  const r = done(parse(Buffer.concat([HAPROXY_V2_TCP4, text('GET / HTTP/1.1\r\n')])));
  assert.equal(r, {
    state: 'done', version: 2, consumed: 28, command: 'proxy', family: 'tcp4',
    source: { address: '172.19.0.1', port: 42578 }, destination: { address: '172.19.0.3', port: 80 },
  });
  assert.ok(encodeV2({ address: '172.19.0.1', port: 42578 }, { address: '172.19.0.3', port: 80 }).equals(HAPROXY_V2_TCP4), 'and written byte for byte');
});

v2('TCP over IPv6: 52 bytes, address length 36', () => {
  const h = hex(`${SIG} 21 21 0024 20010db8000000000000000000000001 00000000000000000000ffff0a000001 1234 01bb`);
  const r = done(parse(h));
  assert.equal([r.consumed, r.family, r.source, r.destination], [52, 'tcp6', { address: '2001:db8::1', port: 0x1234 }, { address: '::ffff:10.0.0.1', port: 443 }]);
  assert.ok(encodeV2({ address: '2001:db8::1', port: 0x1234 }, { address: '10.0.0.1', port: 443 }).equals(h), 'a mixed pair is written as IPv6, the IPv4 one mapped');
});

v2('an IPv4-mapped client is sent as TCP over IPv4', () => {
  assert.ok(encodeV2({ address: '::ffff:172.19.0.1', port: 42578 }, { address: '::ffff:172.19.0.3', port: 80 }).equals(HAPROXY_V2_TCP4));
});

v2('LOCAL: 16 bytes, the socket\'s addresses stand; an address block after it is skipped, not read', () => {
  assert.equal(done(parse(hex(`${SIG} 20 00 0000`))), { state: 'done', version: 2, consumed: 16, command: 'local', family: 'unknown' });
  const r = done(parse(hex(`${SIG} 20 11 000c 7f000001 7f000002 0001 0002 ff`)));
  assert.equal([r.consumed, r.command, r.source], [28, 'local', undefined]);
  assert.ok(encodeV2({ address: '', port: 0 }, { address: '127.0.0.1', port: 1 }).equals(hex(`${SIG} 20 00 0000`)), 'what cannot be told is sent as LOCAL');
});

v2('TLVs (NOOP, ALPN, a custom one) are skipped and counted in the header', () => {
  const h = hex(`${SIG} 21 11 001a 0a000001 0a000002 0001 0002 04 0000 01 0002 6832 e0 0003 616263 ffff`);
  const r = done(parse(h));
  assert.equal([r.consumed, r.source], [h.length - 2, { address: '10.0.0.1', port: 1 }]);
});

v2('families it does not use (UNSPEC, AF_UNIX, datagrams) are valid, with no address', () => {
  assert.equal(done(parse(hex(`${SIG} 21 00 0003 aabbcc`))).family, 'unknown');
  const unix = Buffer.concat([hex(`${SIG} 21 31 00d8`), Buffer.alloc(216, 0x2f)]);
  assert.equal([done(parse(unix)).consumed, done(parse(unix)).source], [232, undefined]);
  assert.equal(done(parse(hex(`${SIG} 21 12 000c 0a000001 0a000002 0001 0002`))).family, 'unknown');
});

v2('malformed heads: refused with their cause as soon as the byte is in', () => {
  refused(parse(hex(`${SIG.slice(0, 10)}ff`)), /expected a PROXY protocol v2 signature, got "\\x0d\\x0a\\x0d\\x0a\\x00\\xff"/);
  refused(parse(hex(`${SIG} 11`)), /v2: version 1, expected 2/);
  refused(parse(hex(`${SIG} 22`)), /command 2 is neither LOCAL \(0\) nor PROXY \(1\)/);
  refused(parse(hex(`${SIG} 21 41`)), /family and transport byte 0x41/);
  refused(parse(hex(`${SIG} 21 13`)), /family and transport byte 0x13/);
  refused(parse(hex(`${SIG} 21 11 00d9`)), /a header of 233 bytes, over the limit of 232/);
  refused(parse(hex(`${SIG} 21 11 000b`)), /11 bytes after the head, family 0x11 needs 12/);
  refused(parse(hex(`${SIG} 21 21 000c`)), /needs 36/);
  refused(parse(hex(`${SIG} 21 11 000e 0a000001 0a000002 0001 0002 0400`)), /2 stray byte\(s\) after the last TLV/);
  refused(parse(hex(`${SIG} 21 11 000f 0a000001 0a000002 0001 0002 01 0005 68`)), /TLV type 0x01 of 5 bytes runs past the header's end/);
});

v2('the v2 limit is the reader\'s to raise; a 16-bit length is the most there is', () => {
  const big = Buffer.concat([hex(`${SIG} 21 11 0400 0a000001 0a000002 0001 0002 e0 03f1`), Buffer.alloc(0x3f1)]);
  refused(parse(big), /over the limit of 232/);
  assert.is(done(parse(big, { maxV2Bytes: 2000 })).consumed, 16 + 0x400);
});

const modes = suite('accept modes');

modes('v1 only refuses v2 and the other way round; any takes both', () => {
  const one = encodeProxyHeader('v1', { address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 2 });
  refused(parse(HAPROXY_V2_TCP4, { accept: 'v1' }), /expected a PROXY protocol v1 header, got "\\x0d\\x0a/);
  refused(parse(one, { accept: 'v2' }), /expected a PROXY protocol v2 header, got "PROXY TCP4 1…"/);
  assert.is(done(parse(one, { accept: 'v1' })).version, 1);
  assert.is(done(parse(HAPROXY_V2_TCP4, { accept: 'v2' })).version, 2);
  assert.is(parse(Buffer.alloc(0), { accept: 'v2' }).state, 'more');
});

v1.run();
v2.run();
modes.run();

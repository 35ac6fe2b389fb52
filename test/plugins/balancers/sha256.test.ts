import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { hmacSha256, sha256, utf8 } from '../../../plugins/balancers/sha256.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const digest = suite('plain-JS SHA-256 / HMAC agree with node:crypto');

digest('SHA-256 of texts of every padding length and of non-ASCII text', () => {
  for (let n = 0; n < 200; n++) {
    const text = 'x'.repeat(n) + (n % 7 === 0 ? 'é€😀' : '');
    assert.is(hex(sha256(utf8(text))), createHash('sha256').update(text).digest('hex'), `length ${n}`);
  }
});

digest('HMAC-SHA-256 with short, block-size and long keys', () => {
  for (const key of ['', 'secret', 'k'.repeat(64), 'long'.repeat(40), randomBytes(12).toString('hex')]) {
    const mac = hmacSha256(key);
    for (const message of ['', '10.0.0.1a', '::ffff:192.0.2.1|node-b', 'm'.repeat(300)]) {
      assert.is(hex(mac(message)), createHmac('sha256', key).update(message).digest('hex'), `${key}/${message}`);
    }
  }
});

digest.run();

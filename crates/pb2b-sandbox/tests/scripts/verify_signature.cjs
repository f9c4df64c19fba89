// An independent check of a ProspectB2B webhook, written from the published recipe only:
// X-ProspectB2B-Signature: v1=<hex HMAC-SHA256(signing secret, "<timestamp>.<raw body>")>.
// Usage: node verify_signature.cjs <secret> <timestamp> <signature header> <raw body file>
// Exit 0 when the signature matches, 1 when it does not.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const [secret, ts, header, bodyFile] = process.argv.slice(2);
const rawBody = fs.readFileSync(bodyFile, 'utf8');
const expected = crypto.createHmac('sha256', secret).update(ts + '.' + rawBody).digest('hex');
const given = (header || '').startsWith('v1=') ? header.slice(3) : '';
const ok = given.length === expected.length &&
  crypto.timingSafeEqual(Buffer.from(given, 'utf8'), Buffer.from(expected, 'utf8'));
console.log(ok ? 'valid' : 'invalid');
process.exit(ok ? 0 : 1);

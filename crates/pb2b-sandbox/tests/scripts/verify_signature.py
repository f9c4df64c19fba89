"""An independent check of a ProspectB2B webhook signature (published recipe), with Python's hmac.

Usage: python3 verify_signature.py <secret> <timestamp> <signature header> <raw body file>
Exit 0 when valid, 1 when not.
"""
import hashlib
import hmac
import sys

secret, ts, header, body_file = sys.argv[1:5]
with open(body_file, "rb") as f:
    raw = f.read()
expected = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
given = header[3:] if header.startswith("v1=") else ""
ok = hmac.compare_digest(given, expected)
print("valid" if ok else "invalid")
sys.exit(0 if ok else 1)

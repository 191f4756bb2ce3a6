"""python-cwt's side of tests/compat/test_python_cwt.py, run in python-cwt's own environment
(it needs cbor2 < 6, pipsim 6.1 or later): reads {"key": COSE_Key hex, "decode": token hex} or
{"key", "issue": {label: value (bytes as {"hex": ...})}} on stdin; prints the decoded claims,
or the token python-cwt issued, as JSON."""
import json
import sys

import cbor2
import cwt
from cwt import COSEKey


def plain(value):
    return {"hex": value.hex()} if isinstance(value, bytes) else value


def main() -> int:
    given = json.load(sys.stdin)
    key = COSEKey.new(cbor2.loads(bytes.fromhex(given["key"])))
    if "decode" in given:
        claims = cwt.decode(bytes.fromhex(given["decode"]), key)
        print(json.dumps({str(label): plain(value) for label, value in claims.items()}))
    else:
        claims = {int(label): bytes.fromhex(value["hex"]) if isinstance(value, dict) else value
                  for label, value in given["issue"].items()}
        print(json.dumps({"token": cwt.encode(claims, key).hex(), "version": cwt.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

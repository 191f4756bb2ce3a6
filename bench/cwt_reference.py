"""python-cwt's decode of the same tokens, for bench_tokens.py: run in a venv of its own
(python-cwt needs cbor2 < 6).  Reads {"key": COSE_Key hex, "tokens": [hex], "seconds"} on
stdin, prints {"decodes_per_s": best batch, "version"}."""
import json
import sys
import time

import cbor2
import cwt
from cwt import COSEKey


def main() -> int:
    given = json.load(sys.stdin)
    key = COSEKey.new(cbor2.loads(bytes.fromhex(given["key"])))
    tokens = [bytes.fromhex(t) for t in given["tokens"]]
    best, end = 0.0, time.perf_counter() + given["seconds"]
    while time.perf_counter() < end:
        start = time.perf_counter()
        for token in tokens:
            cwt.decode(token, key)
        best = max(best, len(tokens) / (time.perf_counter() - start))
    print(json.dumps({"decodes_per_s": round(best), "version": cwt.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

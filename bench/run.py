"""`make bench`: run every benchmark script and print one JSON document.

Each script measures its own ratios side by side in one run and prints JSON.
"""
import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = ["bench_kernel.py", "bench_machine.py", "bench_ipc.py", "bench_tokens.py", "bench_domains.py",
           "bench_network.py", "bench_chain.py", "bench_programs.py", "bench_trust.py",
           "bench_toolchains.py"]


def main() -> int:
    results = {}
    for script in SCRIPTS:
        print(f"running {script} ...", file=sys.stderr)
        done = subprocess.run([sys.executable, str(HERE / script)], stdout=subprocess.PIPE,
                              text=True)               # its standard error: what it skipped
        if done.returncode:
            return done.returncode
        results[script.removesuffix(".py")] = json.loads(done.stdout)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

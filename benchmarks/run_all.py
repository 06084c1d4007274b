"""Run every benchmark of issue #2 in sequence and collect their JSON lines.

    .venv/bin/python benchmarks/run_all.py [--quick]

Results go to stdout and to benchmarks/results/<UTC time>.jsonl (not committed); docs/benchmarks.md
records the numbers with the machine they were measured on. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = [
    ["bench_frechet.py", "--dim", "2048"],
    ["bench_prdc.py", "--n", "10000"],
    ["bench_inception_forward.py", "--batch", "50", "--reps", "3"],
    ["bench_e2e_fid.py", "--n", "2000"],
]
QUICK = [
    ["bench_frechet.py", "--dim", "512", "--repeat", "2"],
    ["bench_prdc.py", "--n", "1000"],
    ["bench_inception_forward.py", "--batch", "8", "--reps", "1"],
    ["bench_e2e_fid.py", "--n", "50"],
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks that the scripts run")
    args = ap.parse_args()
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"{stamp}{'-quick' if args.quick else ''}.jsonl"
    machine = {"bench": "machine", "platform": platform.platform(), "python": sys.version.split()[0]}
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        machine["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?")
    lines = [json.dumps(machine)]
    print(lines[0], flush=True)
    for cmd in QUICK if args.quick else FULL:
        proc = subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{cmd[0]} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            sys.exit(proc.returncode)
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                rec.setdefault("script", cmd[0])
                lines.append(json.dumps(rec))
                print(lines[-1], flush=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

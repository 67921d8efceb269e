# Copyright 2026 The mt-dnn Authors. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Runs the two-process (gloo) training of `tests/test_trainer.py` many times in a row and counts the failures.

A distributed run that leaves its process group alive aborts at interpreter exit in about one run in eight
(`terminate called without an active exception`, SIGABRT), after its ranks have written their results. This loop
is how that fix is checked; it is not a CI test (60 runs take about 15 minutes on 2 cores).

    python benchmarks/soak_ddp.py --runs 60 [--device cuda] [--bf16]

`--device` is `cpu` by default (the gloo group is what this soak is about); `--device cuda` runs the two processes
on the first two visible GPUs (NCCL), so it needs two. `--bf16` trains under bfloat16 autocast. The last line is one
JSON object: `runs`, `failures`, `mean_seconds`, `device` and `dtype`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmark_args import add_device_arguments, device_figures, training_device_settings  # noqa: E402

from tests.test_trainer import DISTRIBUTED_SCRIPT, distributed_command  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=60, help="Consecutive two-process runs (default 60).")
    add_device_arguments(parser, default="cpu")
    args = parser.parse_args(argv)
    if args.device not in ("cpu", "cuda"):
        parser.error(f"--device {args.device}: the soak runs two processes, so cpu or cuda (one GPU each).")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    else:
        import torch

        if torch.cuda.device_count() < 2:
            parser.error(f"--device cuda: two processes need two GPUs; {torch.cuda.device_count()} visible here.")
    overrides = json.dumps(training_device_settings(args))
    failures, seconds = [], []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "train.py"
            script.write_text(DISTRIBUTED_SCRIPT.format(repo=str(ROOT)))
            start = time.perf_counter()
            completed = subprocess.run(
                distributed_command(script, folder, overrides), env=env, capture_output=True, text=True, cwd=ROOT
            )
            seconds.append(time.perf_counter() - start)
            wrote = all((Path(folder) / f"tasks-{rank}.json").is_file() for rank in (0, 1))
        ok = completed.returncode == 0 and wrote
        if not ok:
            failures.append({"run": run, "returncode": completed.returncode, "stderr": completed.stderr[-3000:]})
        print(f"run {run:3d}/{args.runs}: {'ok' if ok else 'FAILED'} ({seconds[-1]:.1f} s)", flush=True)
        if not ok:
            print(failures[-1]["stderr"], file=sys.stderr, flush=True)
    figures = {"runs": args.runs, "failures": len(failures), "mean_seconds": round(sum(seconds) / len(seconds), 2)}
    figures |= device_figures(args)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    sys.exit(1 if main()["failures"] else 0)

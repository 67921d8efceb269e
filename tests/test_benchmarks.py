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
"""The benchmark scripts run (quick mode) and end with their JSON figures. Slow: run with `pytest -m slow`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_task_data import GLUE_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, keys",
    [
        ("bench_inference.py", {"tasks", "speedup", "mtdnn_sentences_per_s_batch1", "mtdnn_sentences_per_s_batch64"}),
        ("bench_train.py", {"ratio", "dynamic_padding_gain", "mtdnn_examples_per_s", "stock_examples_per_s"}),
        ("bench_memory.py", {"training_peak_rss_mib", "inference_peak_rss_mib", "heads"}),
        ("profile_train.py", {"steps", "total_seconds", "own_time_share"}),
        ("reproduce_paper.py", {"examples_per_seed_per_arm", "single_rte_mean", "mtdnn_rte_mean", "difference_stsb"}),
    ],
)
def test_benchmark_quick_mode_prints_its_figures(script, keys, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MTDNN_DATA_DIR": str(GLUE_DIR)}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert keys <= set(figures)

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
"""The benchmark scripts run (quick mode) and end with their JSON figures (slow: `pytest -m slow`); the report keeps notes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import shared_glue_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, keys",
    [
        (
            "bench_inference.py",
            {
                "tasks",
                "speedup",
                "speedup_pairs_batch64",
                "san_head_ms_sentences_batch64",
                "speedup_batch1",
                "speedup_batch64",
                "ideal_batch64",
            },
        ),
        (
            "bench_train.py",
            {
                "ratio",
                "dynamic_padding_gain",
                "mtdnn_examples_per_s",
                "stock_examples_per_s",
                "group_by_length_gain",
                "group_by_length_ratio",
                "group_by_length_ratio_stock_mega_batches",
            },
        ),
        ("bench_memory.py", {"training_peak_rss_mib", "inference_peak_rss_mib", "heads"}),
        ("profile_train.py", {"steps", "total_seconds", "own_time_share"}),
        (
            "bench_adapters.py",
            {"adapter_share", "trainable_share_rte", "disk_share_rte", "difference_stsb", "serving_mib_k_full_models"},
        ),
        ("reproduce_paper.py", {"examples_per_seed_per_arm", "single_rte_mean", "mtdnn_rte_mean", "difference_stsb"}),
    ],
)
def test_benchmark_quick_mode_prints_its_figures(script, keys, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MTDNN_DATA_DIR": str(shared_glue_dir())}
    # Scripts that keep their results on disk keep these in the test's folder, not beside earlier full runs.
    results = (
        ["--results_dir", str(tmp_path / "results")]
        if script in ("reproduce_paper.py", "bench_adapters.py", "bench_smart_kd.py")
        else []
    )
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", *results],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert keys <= set(figures)


def test_regenerated_reproduction_report_keeps_the_hand_written_notes(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from reproduce_paper import NOTES_MARKER, write_report
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    tasks = ["rte", "stsb"]
    scores = {
        "single": {"rte": [0.5, 0.6], "stsb": [0.7, 0.8]},
        "stage": {"rte": [0.4, 0.5], "stsb": [0.5, 0.6]},
        "mtdnn": {"rte": [0.6, 0.7], "stsb": [0.6, 0.7]},
    }
    figures = {"encoder": "model", "seeds": 2, "examples_per_seed_per_arm": 100, "single_task_epochs": 2.0}
    figures |= {"multitask_epochs": 1, "pooling": "mean", "learning_rate": 1e-4, "wall_seconds_all_runs": 60.0}
    for arm in scores:
        for task in tasks:
            figures[f"{arm}_{task}_mean"] = sum(scores[arm][task]) / 2
            figures[f"{arm}_{task}_sd"] = 0.07
    for task in tasks:
        figures[f"difference_{task}"] = figures[f"mtdnn_{task}_mean"] - figures[f"single_{task}_mean"]
    report = tmp_path / "RESULTS.md"
    write_report(report, figures, scores, tasks, ["wnli"], {"rte": 50, "stsb": 50, "wnli": 50}, ["--quick"])
    first = report.read_text()
    assert "| rte | accuracy | 0.5500 ± 0.0700 | 0.4500 ± 0.0700 | 0.6500 ± 0.0700 | +0.1000 |" in first
    assert (
        "- stsb: single-task [0.7000, 0.8000]; MT-DNN, multi-task stage only [0.5000, 0.6000]; MT-DNN [0.6000, 0.7000]"
        in first
    )
    assert "MT-DNN is ahead on 1 of 2 tasks (rte)." in first
    assert first.endswith(NOTES_MARKER + "\n") and (tmp_path / "RESULTS.png").is_file()

    report.write_text(first + "\n## What this shows\n\nWritten by hand.\n")
    figures["single_task_epochs"] = 3.0
    write_report(report, figures, scores, tasks, ["wnli"], {"rte": 50, "stsb": 50, "wnli": 50}, ["--quick"])
    second = report.read_text()
    assert "single-task: 3.0 epochs per task" in second
    assert second.endswith(NOTES_MARKER + "\n\n## What this shows\n\nWritten by hand.\n")
    assert second.count(NOTES_MARKER) == 1

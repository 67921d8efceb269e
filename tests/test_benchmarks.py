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

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .conftest import require, shared_glue_dir

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
                "eval_group_by_length_gain",
            },
        ),
        ("bench_memory.py", {"training_peak_rss_mib", "inference_peak_rss_mib", "heads"}),
        (
            "bench_task_affinity.py",
            {"off_s_per_step", "cosine_s_per_step", "lookahead_overhead", "cosine_s_per_measurement"},
        ),
        ("bench_mixed_batches.py", {"ratio_to_pregrouped", "speedup_over_per_row", "max_abs_difference"}),
        ("profile_train.py", {"steps", "total_seconds", "own_time_share"}),
        (
            "bench_adapters.py",
            {"adapter_share", "trainable_share_rte", "disk_share_rte", "difference_stsb", "serving_mib_k_full_models"},
        ),
        ("nli_prior.py", {"plain_cosine_gap", "random_cosine_gap", "plain_probe_64", "random_probe_64"}),
        ("bench_ner_qa.py", {"stock_conll2003_f1_mean", "single_conll2003_f1_mean", "multi_squad_f1_mean"}),
        (
            "bench_task_groups.py",
            {"speedup", "group_labels_per_s", "separate_labels_per_s", "group_conll2003_ner_mean", "heads_within"},
        ),
        (
            "mnli_transfer.py",
            {
                "rte_only_rte_mean",
                "mnli64_stage_mnli_mean",
                "mnli64_stage_mnli_mm_mean",
                "mnli64_rte_difference",
                "mnli64_rte_difference_same_examples",
            },
        ),
        (
            "finetune_budget.py",
            {
                "single_mean",
                "single_one_epoch_mean",
                "stage_mean",
                "mtdnn_mean",
                "mtdnn_single_epochs_mean",
                "stage_gain_one_epoch",
                "stage_gain_single_epochs",
            },
        ),
        ("san_diagnosis.py", {"rte_san_mean", "rte_linear_mean", "rte_head_lr_10x_mean", "rte_one_step_mean"}),
        (
            "affinity_transfer.py",
            {"gains", "affinity_cosine", "spearman_cosine", "spearman_lookahead_loss", "disagree_cosine"},
        ),
        (
            "reproduce_paper.py",
            {
                "examples_per_seed_per_arm",
                "single_rte_mean",
                "mtdnn_qnli_mean",
                "difference_rte",
                "single_linear_rte_mean",
                "snli_mtdnn/linear/16_mean",
                "snli_plain/san/16_mean",
            },
        ),
    ],
)
def test_benchmark_quick_mode_prints_its_figures(script, keys, tmp_path):
    if script in ("reproduce_paper.py", "nli_prior.py"):
        require((shared_glue_dir().parent / "snli" / "README.md").is_file(), "the local SNLI copy")
    extra = []
    if script == "bench_ner_qa.py":  # a folder of local copies, one per dataset
        for name in ("conll2003", "squad"):
            require((shared_glue_dir().parent / name / "README.md").is_file(), f"the local {name} copy")
        extra = ["--data_dir", str(shared_glue_dir().parent)]
    if script == "bench_task_groups.py":
        require((shared_glue_dir().parent / "conll2003" / "README.md").is_file(), "the local conll2003 copy")
        extra = ["--data_dir", str(shared_glue_dir().parent)]
    if script == "nli_prior.py":
        extra = ["--snli_dir", str(shared_glue_dir().parent / "snli"), "--seeds", "1"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MTDNN_DATA_DIR": str(shared_glue_dir())}
    # Scripts that keep their results on disk keep these in the test's folder, not beside earlier full runs.
    results = (
        ["--results_dir", str(tmp_path / "results")]
        if script
        in (
            "reproduce_paper.py",
            "bench_adapters.py",
            "bench_smart_kd.py",
            "san_diagnosis.py",
            "bench_ner_qa.py",
            "bench_task_groups.py",
            "mnli_transfer.py",
            "finetune_budget.py",
            "affinity_transfer.py",
        )
        else []
    )
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", *results, *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert keys <= set(figures)


@pytest.mark.slow
def test_gpu_suite_quick_mode_passes_or_skips_each_section_with_a_reason(tmp_path):
    # Quick mode on this machine's device (the CPU in CI): every section runs, or says why not, in one JSON line.
    for name in ("conll2003", "squad"):
        require((shared_glue_dir().parent / name / "README.md").is_file(), f"the local {name} copy")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MTDNN_DATA_DIR": str(shared_glue_dir())}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--quick", "--output_dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert {
        "suite",
        "device",
        "dtype",
        "quick",
        "versions",
        "sections",
        "passed",
        "failed",
        "skipped",
        "seconds",
    } <= set(report)
    assert report["device"] == ("cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0))
    assert report["dtype"] == "float32" and report["quick"] is True and report["failed"] == []
    assert list(report["sections"]) == ["tasks", "throughput", "inference", "glue", "fsdp"]
    for name, section in report["sections"].items():
        assert section["status"] in ("passed", "skipped") and isinstance(section["seconds"], float), (name, section)
        assert section["status"] == "passed" or section["reason"], (name, section)
    if not torch.cuda.is_available():
        assert report["skipped"] == ["fsdp"] and "GPU process groups" in report["sections"]["fsdp"]["reason"]
    tasks = report["sections"]["tasks"]
    assert set(tasks["task_types"]) == {"rte", "stsb", "qnli", "conll2003", "squad"}
    assert all(
        tasks[part]["status"] == "passed"
        for part in ("all_types", "one_pass", "pipeline", "lora", "smart", "affinity")
    )
    assert tasks["all_types"]["reload_max_abs_diff"] <= tasks["all_types"]["reload_tolerance"]
    throughput = report["sections"]["throughput"]
    for encoder in ("bert_base_random", "model"):
        figures = throughput[f"{encoder}_batch8"]
        assert figures["mtdnn_model_tflops_per_s"] > 0 and figures["ratio"] > 0
    assert throughput["bert_base_random_batch8"]["encoder_parameters"] == 109482240  # BertConfig(): BERT-base
    glue = report["sections"]["glue"]
    assert set(glue["mtdnn"]) == set(glue["single"]) == {"mnli", "mnli_mm", "rte", "stsb", "cola", "sst2"}
    assert report["sections"]["inference"]["speedup"] > 0


def test_regenerated_reproduction_report_keeps_the_hand_written_notes(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from reproduce_paper import NOTES_MARKER, write_report
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    scored = ["rte", "mnli", "mnli_mm"]
    scores = {
        "single": {"rte": [0.5, 0.6], "mnli": [0.7, 0.8], "mnli_mm": [0.7, 0.7]},
        "stage": {"rte": [0.4, 0.5], "mnli": [0.5, 0.6], "mnli_mm": [0.5, 0.5]},
        "mtdnn": {"rte": [0.6, 0.7], "mnli": [0.7, 0.8], "mnli_mm": [0.8, 0.8]},
        "single_linear": {"rte": [0.52, 0.54], "mnli": [0.7, 0.7], "mnli_mm": [0.6, 0.6]},
    }
    adapted = {
        "plain/linear/550": [0.40, 0.50],
        "mtdnn/linear/550": [0.50, 0.60],
        "plain/san/550": [0.30, 0.30],
        "mtdnn/san/550": [0.35, 0.35],
        "plain/linear/5502": [0.70, 0.70],
        "mtdnn/linear/5502": [0.72, 0.72],
    }
    figures = {"encoder": "model", "seeds": 2, "examples_per_seed_per_arm": 100, "single_task_epochs": 2.0}
    figures |= {"multitask_epochs": 1, "pooling": "mean", "learning_rate": 1e-4, "wall_seconds_all_runs": 60.0}
    figures |= {"train_rows": {"rte": 50, "mnli": 50, "wnli": 50}, "max_eval_samples": 3000}
    figures |= {"adaptation_epochs": {"550": 5.0, "5502": 1.0}}
    for arm, per_key in scores.items():
        for key, values in per_key.items():
            figures[f"{arm}_{key}_mean"] = sum(values) / 2
            figures[f"{arm}_{key}_sd"] = 0.07
    for key in scored:
        figures[f"difference_{key}"] = figures[f"mtdnn_{key}_mean"] - figures[f"single_{key}_mean"]
    for key, values in adapted.items():
        figures[f"snli_{key}_mean"], figures[f"snli_{key}_sd"] = sum(values) / 2, 0.05
    report = tmp_path / "RESULTS.md"
    write_report(report, figures, scores, adapted, scored, ["rte", "mnli"], ["wnli"], ["--quick"])
    first = report.read_text()
    assert "| rte | accuracy | 0.5500 ± 0.0700 | 0.4500 ± 0.0700 | 0.6500 ± 0.0700 | +0.1000 |" in first
    assert (
        "| mnli_mm | accuracy (mismatched) | 0.7000 ± 0.0700 | 0.5000 ± 0.0700 | 0.8000 ± 0.0700 | +0.1000 |" in first
    )
    assert (
        "- mnli: single-task [0.7000, 0.8000]; MT-DNN, multi-task stage only [0.5000, 0.6000]; MT-DNN [0.7000, 0.8000]"
        in first
    )
    assert (
        "Targets: RTE at least +3.0 points: **+10.00 points** (met); no task more than one spread worse: **met**"
        in first
    )
    assert "| rte | 0.5500 ± 0.0700 | 0.5300 ± 0.0700 | +0.0200 |" in first  # SAN against linear
    assert "| 550 | linear | 0.4500 ± 0.0500 | 0.5500 ± 0.0500 | +0.1000 |" in first
    assert "| 550 | san | 0.3000 ± 0.0500 | 0.3500 ± 0.0500 | +0.0500 |" in first
    assert "- linear/5502: plain encoder [0.7000, 0.7000]; MT-DNN stage checkpoint [0.7200, 0.7200]" in first
    assert "Target: SNLI at 0.1% at least +5 points over the plain encoder: **+10.00 points** (met)." in first
    assert first.endswith(NOTES_MARKER + "\n")
    assert (tmp_path / "RESULTS_tasks.png").is_file() and (tmp_path / "RESULTS_snli.png").is_file()

    report.write_text(first + "\n## What this shows\n\nWritten by hand.\n")
    figures["single_task_epochs"] = 3.0
    figures["mtdnn_mnli_mean"], figures["difference_mnli"] = 0.6, -0.15  # more than one spread worse
    write_report(report, figures, scores, adapted, scored, ["rte", "mnli"], ["wnli"], ["--quick"])
    second = report.read_text()
    assert "single-task: 3.0 epochs per task" in second
    assert "no task more than one spread worse: **missed on mnli**" in second
    assert second.endswith(NOTES_MARKER + "\n\n## What this shows\n\nWritten by hand.\n")
    assert second.count(NOTES_MARKER) == 1


def _benchmark_module(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize(
    "script", sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py") if path.stem != "benchmark_args")
)
def test_benchmark_help_prints_every_option(script, capsys):
    # argparse formats help strings with %, so a bare "0.1%" only fails when somebody asks for --help.
    bench = _benchmark_module(script)
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--help"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("usage:") and "\noptions:\n  -h, --help" in printed


def test_device_and_bf16_reach_the_trainer_settings_and_the_cli_flags(tmp_path, monkeypatch, capsys):
    from transformers import TrainingArguments

    from mtdnn.training.run_mtdnn import parse_args

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # restored afterwards: asking for a GPU pins one
    bench = _benchmark_module("benchmark_args")
    parser = bench.benchmark_parser("test", "quick")
    args = bench.parse_benchmark_args(parser, ["--model", "unused", "--device", "cpu", "--bf16"])
    settings, flags = bench.training_device_settings(args), bench.cli_device_flags(args)
    assert settings == {"use_cpu": True, "bf16": True} and flags == ["--use_cpu", "--bf16"]
    assert bench.device_figures(args) == {"device": "cpu", "dtype": "bfloat16"}
    assert str(bench.inference_device(args)) == "cpu"
    trainer_args = TrainingArguments(output_dir=str(tmp_path), report_to=[], **settings)
    assert trainer_args.use_cpu and trainer_args.bf16 and trainer_args.device.type == "cpu"
    *_, cli_args = parse_args(
        ["--model_name_or_path", "unused", "--tasks", "rte", "--output_dir", str(tmp_path), *flags]
    )
    assert cli_args.use_cpu and cli_args.bf16

    plain = bench.parse_benchmark_args(parser, ["--model", "unused"])  # the defaults: what CI runs
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert plain.device == expected and plain.bf16 is False
    assert bench.training_device_settings(plain) == {"use_cpu": expected == "cpu", "bf16": False}
    assert bench.cli_device_flags(plain) == (["--use_cpu"] if expected == "cpu" else [])
    assert bench.device_figures(plain)["dtype"] == "float32"

    wrong = [["--device", "gpu"]] + ([] if torch.cuda.is_available() else [["--device", "cuda:1"]])
    messages = ["--device gpu: choose cpu, cuda or cuda:N", "--device cuda:1: "]
    for argv, message in zip(wrong, messages):
        with pytest.raises(SystemExit):
            bench.parse_benchmark_args(parser, ["--model", "unused", *argv])
        assert message in capsys.readouterr().err


def test_ner_qa_glue_mix_trains_on_the_first_rows_and_keeps_the_rest_as_built_in(tmp_path):
    from mtdnn.training.task_files import load_task_specs

    bench = _benchmark_module("bench_ner_qa")
    built_in = load_task_specs(bench.GLUE_MIX)
    sliced = load_task_specs(bench.GLUE_MIX, [bench.glue_mix_task_file(tmp_path / "mix.yaml", 200)])
    for name in bench.GLUE_MIX:
        assert sliced[name].splits["train"] == f"{built_in[name].splits['train']}[:200]"
        assert sliced[name].splits["validation"] == built_in[name].splits["validation"]
        assert (sliced[name].head, sliced[name].dropout) == (built_in[name].head, built_in[name].dropout)
    assert sliced["mnli"].extra_eval_splits == built_in["mnli"].extra_eval_splits
    whole = load_task_specs(bench.GLUE_MIX, [bench.glue_mix_task_file(tmp_path / "whole.yaml", None)])
    assert {name: spec.splits for name, spec in whole.items()} == {
        name: spec.splits for name, spec in built_in.items()
    }


@pytest.mark.parametrize(
    "script, flags, message",
    [
        ("bench_ner_qa.py", ["--tasks", "conll2003,pos"], "--tasks: unknown pos; choose from conll2003, squad"),
        ("san_diagnosis.py", ["--variants", "san,two_heads"], "--variants: unknown two_heads; choose from san,"),
    ],
)
def test_benchmarks_refuse_unknown_subsets_naming_the_choices(script, flags, message, tmp_path):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--data_dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert completed.returncode == 2
    assert message in completed.stderr


def test_ner_qa_runs_every_arm_of_the_asked_tasks_for_every_seed(tmp_path, monkeypatch):
    bench = _benchmark_module("bench_ner_qa")
    calls = []

    def fake_stock_run(task, args, seed, output_dir):
        calls.append(("stock", seed - 42, [task]))
        return {f"eval_{task}_f1": 0.4 + (seed - 42) / 100}

    def fake_run_once(path, flags):  # as run_once: a saved result is read, not run again
        if path.is_file():
            return json.loads(path.read_text())
        tasks, seed = flags[flags.index("--tasks") + 1].split(","), int(flags[flags.index("--seed") + 1]) - 42
        calls.append((path.parent.parent.name, seed, tasks))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({f"eval_{tasks[0]}_f1": 0.5, f"eval_{tasks[0]}_loss": 1.0}))
        return {}

    monkeypatch.setattr(bench, "stock_run", fake_stock_run)
    monkeypatch.setattr(bench, "run_once", fake_run_once)
    argv = ["--model", "unused", "--data_dir", str(tmp_path), "--results_dir", str(tmp_path / "results")]
    figures = bench.main([*argv, "--tasks", "conll2003", "--seeds", "2"])
    mix = ["conll2003", *bench.GLUE_MIX]
    assert calls == [
        (arm, seed, tasks)
        for seed in (0, 1)
        for arm, tasks in (("stock", ["conll2003"]), ("single", ["conll2003"]), ("multi", mix))
    ]
    assert figures["seeds"] == 2 and figures["stock_conll2003_f1_mean"] == 0.405
    assert figures["single_conll2003_f1_mean"] == 0.5 and "single_conll2003_loss_mean" not in figures

    calls.clear()  # a later seed range alone runs only its own cells; saved cells are not run again
    assert bench.main([*argv, "--tasks", "conll2003", "--seeds", "3", "--first_seed", "2"])["seeds"] == 1
    assert [(arm, seed) for arm, seed, _ in calls] == [("stock", 2), ("single", 2), ("multi", 2)]
    calls.clear()
    assert bench.main([*argv, "--tasks", "conll2003", "--seeds", "3"])["stock_conll2003_f1_mean"] == 0.41
    assert calls == []


def test_a_stage_is_trained_again_only_when_its_checkpoint_is_gone_and_still_needed(tmp_path, monkeypatch):
    bench = _benchmark_module("reproduce_paper")
    runs = []

    def fake_run_mtdnn(flags):
        output_dir = Path(flags[flags.index("--output_dir") + 1])
        output_dir.mkdir(parents=True)
        runs.append(output_dir)
        return {"eval_rte_accuracy": 0.6, "train_runtime": 1.0}

    monkeypatch.setattr(bench, "run_mtdnn", fake_run_mtdnn)
    path, stage = tmp_path / "stage.json", tmp_path / "runs" / "stage"
    flags = ["--tasks", "rte", "--output_dir", str(stage)]

    assert bench.run_stage(path, flags)["eval_rte_accuracy"] == 0.6
    assert runs == [stage] and stage.is_dir() and path.is_file()  # kept for the runs that start from it
    assert bench.run_stage(path, flags)["eval_rte_accuracy"] == 0.6 and len(runs) == 1  # saved: not run again

    shutil.rmtree(stage)
    bench.run_stage(path, flags, needed=False)
    assert len(runs) == 1 and not stage.is_dir()  # nothing starts from it any more: the saved figures are enough
    bench.run_stage(path, flags)
    assert len(runs) == 2 and stage.is_dir()  # needed, and its checkpoint was gone: trained again

    shutil.rmtree(stage)
    path.unlink()
    bench.run_stage(path, flags, needed=False)
    assert len(runs) == 3 and path.is_file() and not stage.is_dir()  # trained for its figures, checkpoint dropped


def _transfer_results(tasks, gains, losses=None, seeds=2, noise=None):
    """Alone and pair results in which task j scores 0.5 alone and 0.5 + gains[(i, j)] beside i (seed s adds noise)."""
    noise = noise or (lambda pair, seed: 0.0)
    alone = {j: [{f"eval_{j}_accuracy": 0.5, f"eval_{j}_loss": 1.0} for _ in range(seeds)] for j in tasks}
    pairs = {}
    for a, b in itertools.combinations(tasks, 2):
        pairs[(a, b)] = [
            {
                **{f"eval_{j}_accuracy": 0.5 + gains[(i, j)] + noise((i, j), seed) for i, j in ((a, b), (b, a))},
                **{f"eval_{j}_loss": 1.0 - (losses or gains)[(i, j)] for i, j in ((a, b), (b, a))},
            }
            for seed in range(seeds)
        ]
    return alone, pairs


def test_affinity_transfer_correlates_each_ordered_pairs_gain_with_its_predicted_affinity():
    bench = _benchmark_module("affinity_transfer")
    tasks = ["rte", "mnli", "qnli"]
    ordered = [(i, j) for j in tasks for i in tasks if i != j]
    gains = {pair: 0.01 * k for k, pair in enumerate(ordered)}  # mnli->rte lowest ... mnli->qnli highest
    alone, pairs = _transfer_results(tasks, gains)
    agreeing = {pair: 10.0 * gain - 3 for pair, gain in gains.items()}  # same order, other scale
    reversed_ = {pair: -gain for pair, gain in gains.items()}
    figures = bench.transfer_figures(
        tasks, alone, pairs, {"cosine": agreeing, "lookahead": reversed_}, repeats={"cosine": [reversed_]}
    )

    assert figures["gains"]["mnli->rte"] == {"mean": 0.0, "sd": 0.0, "seeds": [0.0, 0.0]}
    assert figures["gains"]["rte->mnli"]["mean"] == pytest.approx(0.02)
    assert figures["gains"]["mnli->qnli"]["mean"] == pytest.approx(0.05)
    assert figures["loss_gains"]["mnli->qnli"]["mean"] == pytest.approx(0.05)  # 1.0 alone, 0.95 beside mnli
    assert figures["spearman_cosine"] == 1.0 and figures["spearman_cosine_loss"] == 1.0
    assert figures["spearman_lookahead"] == -1.0 and figures["spearman_cosine_within_target"] == 1.0
    assert figures["spearman_between_methods"] == -1.0
    assert figures["affinity_cosine"]["mnli->qnli"] == pytest.approx(10 * 0.05 - 3)
    # a run with another seed that measured the opposite order: it disagrees with the first and with the gains
    assert figures["affinity_cosine_seed_to_seed_spearman"] == [-1.0]
    assert figures["spearman_cosine_other_seeds"] == [-1.0]
    assert "affinity_lookahead_seed_to_seed_spearman" not in figures
    assert figures["alone"]["rte"]["mean"] == 0.5
    # identical seeds rank the gains identically: the ceiling is 1, also within each target
    assert figures["seed_to_seed_spearman"] == 1.0 and figures["mean_of_seeds_reliability"] == 1.0
    assert figures["ceiling"] == 1.0 and figures["ceiling_centered"] == 1.0
    # target means 0.005, 0.025, 0.045 (each twice) against gains 0, 0.01, ..., 0.05: 0.0016 / 0.00175 of the variance
    assert figures["target_share"] == pytest.approx(0.0016 / 0.00175, abs=1e-4)
    # less their target's mean, the gains alternate low, high: ranks 1..6 against 2, 5, 2, 5, 2, 5
    assert figures["spearman_cosine_centered"] == pytest.approx(4.5 / math.sqrt(17.5 * 13.5), abs=1e-4)
    # reversed: the lowest gain has the highest affinity, and the two ends disagree the most
    worst = figures["disagree_lookahead"][0]
    assert worst["pair"] in ("mnli->rte", "mnli->qnli") and abs(worst["affinity_rank"] - worst["gain_rank"]) == 5
    assert [d["pair"] for d in figures["disagree_cosine"]] and all(
        d["affinity_rank"] == d["gain_rank"] for d in figures["disagree_cosine"]
    )


def test_affinity_transfer_measures_how_well_seeds_agree_and_leaves_ranking_tasks_out_of_the_loss_gain():
    bench = _benchmark_module("affinity_transfer")
    tasks = ["rte", "mnli", "qnli"]
    ordered = [(i, j) for j in tasks for i in tasks if i != j]
    gains = {pair: 0.0 for pair in ordered}
    # seed 0 ranks the pairs one way, seed 1 the opposite way: the gains carry no reproducible order
    order = {pair: k for k, pair in enumerate(ordered)}
    alone, pairs = _transfer_results(tasks, gains, noise=lambda pair, seed: 0.01 * order[pair] * (1 - 2 * seed))
    for results in [alone["qnli"], *pairs.values()]:  # as a ranking task reports it: no dev loss
        for result in results:
            result.pop("eval_qnli_loss", None)
    figures = bench.transfer_figures(tasks, alone, pairs, {"cosine": {pair: order[pair] for pair in ordered}})
    assert figures["seed_to_seed_spearman"] == -1.0
    assert figures["mean_of_seeds_reliability"] == 0.0  # no reproducible order: nothing to predict
    assert figures["ceiling"] == 0.0 and figures["seed_to_seed_spearman_centered"] == -1.0
    assert figures["target_share"] is None  # the mean gains are all 0: no variance to share out
    assert set(figures["loss_gains"]) == {"mnli->rte", "qnli->rte", "rte->mnli", "qnli->mnli"}
    assert all(figures["gains"][f"{i}->{j}"]["mean"] == pytest.approx(0.0) for i, j in ordered)
    assert figures["gains"]["rte->mnli"]["seeds"] == [pytest.approx(0.02), pytest.approx(-0.02)]

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
from __future__ import annotations

import json
import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, HfArgumentParser

from modeling_mtdnn import MTDNNForMultiTask
from mtdnn.training.arguments import ModelArguments
from mtdnn.training.data_loading import load_raw_split
from mtdnn.training.run_mtdnn import build_model, format_score_table, main, parse_args
from mtdnn.training.task_files import load_task_specs
from mtdnn.training.trainer import EvalSpec

from .conftest import minilm_folder, shared_glue_dir, write_local_copy
from .test_hub import RecordedHub
from .test_task_files import pairs

REPO = Path(__file__).resolve().parents[1]

USER_TASKS = """
dataset: nyu-mll/glue
tasks:
  rte_dev:
    config: rte
    splits: {train: train, validation: validation, test: validation}
    text_columns: [sentence1, sentence2]
    task_type: classification
    head: san
    label_names: [entailment, not_entailment]
    metric: rte
    submission_file: RTE.tsv
    submission_labels: names
  stsb_dev:
    config: stsb
    splits: {train: train, validation: validation, test: validation}
    text_columns: [sentence1, sentence2]
    task_type: regression
    metric: stsb
    submission_file: STS-B.tsv
"""


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A tiny random BERT with the real MiniLM tokenizer, saved as a plain encoder folder."""
    folder = tmp_path_factory.mktemp("encoder")
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def common_flags(encoder_dir, output_dir, data_dir=None):
    data_dir = data_dir or shared_glue_dir()
    return ["--model_name_or_path", encoder_dir, "--data_dir", str(data_dir), "--output_dir", str(output_dir), "--report_to", "none", "--disable_tqdm", "true"]  # fmt: skip


def test_evaluation_of_a_fresh_model_writes_every_metric(encoder_dir, tmp_path):
    flags = common_flags(encoder_dir, tmp_path) + ["--tasks", "cola,sst2,stsb,rte,wnli", "--do_eval", "--max_eval_samples", "16"]  # fmt: skip
    metrics = main(flags)
    saved = json.loads((tmp_path / "eval_results.json").read_text())
    expected = ["eval_cola_matthews_correlation", "eval_sst2_accuracy", "eval_stsb_pearson", "eval_stsb_spearmanr", "eval_rte_accuracy", "eval_wnli_accuracy", "eval_average"]  # fmt: skip
    for key in expected:
        # A fresh model can predict a constant score: its correlation is then undefined (NaN) on both sides.
        assert key in saved and (saved[key] == pytest.approx(metrics[key]) or math.isnan(saved[key]) and math.isnan(metrics[key])), key  # fmt: skip


def test_train_evaluate_predict_from_a_yaml_file_with_overrides(encoder_dir, tmp_path, monkeypatch):
    (tmp_path / "tasks.yaml").write_text(USER_TASKS)
    (tmp_path / "run.yaml").write_text(
        "tasks: rte_dev,stsb_dev\nmax_train_samples: 24\nmax_eval_samples: 12\nmax_predict_samples: 10\n"
        f"task_files: [{tmp_path / 'tasks.yaml'}]\ndo_train: true\ndo_eval: true\ndo_predict: true\n"
        "max_steps: 2\nper_device_train_batch_size: 4\nlearning_rate: 1.0e-3\noptim: adamax\nsave_strategy: 'no'\n"
    )
    output = tmp_path / "out"
    hub = RecordedHub(monkeypatch)
    main([str(tmp_path / "run.yaml"), *common_flags(encoder_dir, output), "--max_steps", "4", "--push_to_hub", "true", "--hub_model_id", "org/tiny-mt-dnn"])  # fmt: skip
    uploads = [args for kind, repo, args in hub.calls if kind == "upload_folder" and repo == "org/tiny-mt-dnn"]
    assert uploads and uploads[-1]["commit_message"] == "Upload MT-DNN model"
    pushed = uploads[-1]["files"]
    assert {"config.json", "model.safetensors", "modeling_mtdnn.py", "tokenizer.json", "README.md", "dev_scores.png"} <= set(pushed)  # fmt: skip
    assert b'AutoModel.from_pretrained("org/tiny-mt-dnn", trust_remote_code=True)' in pushed["README.md"]
    assert b"eval_rte_dev" not in pushed["README.md"] and b"| rte_dev | classification | san |" in pushed["README.md"]

    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 4  # the flag overrode the file
    model = AutoModel.from_pretrained(output)
    assert sorted(model.config.tasks) == ["rte_dev", "stsb_dev"]
    assert AutoTokenizer.from_pretrained(output).vocab_size == 30522
    results = json.loads((output / "eval_results.json").read_text())
    assert {"eval_rte_dev_accuracy", "eval_stsb_dev_pearson", "eval_average"} <= set(results)
    train_results = json.loads((output / "train_results.json").read_text())
    assert train_results["train_rte_dev_samples"] == 24

    card = (output / "README.md").read_text()
    assert (
        f"| rte_dev | classification | san | entailment, not_entailment | accuracy | validation (first 12 of 277 rows) | {results['eval_rte_dev_accuracy']:.4f} |"
        in card
    )
    assert "- optim: adamax" in card and "| rte_dev | 24 |" in card and "- max_train_samples: 24" in card
    assert (output / "dev_scores.png").stat().st_size > 1000

    rows = (output / "predictions" / "rte_dev.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction" and len(rows) == 11
    assert all(line.split("\t")[1] in ("entailment", "not_entailment") for line in rows[1:])
    assert [line.split("\t")[0] for line in rows[1:]] == [str(i) for i in range(10)]
    submission = (output / "glue_submission" / "RTE.tsv").read_text().splitlines()
    assert submission == rows
    scores = (output / "glue_submission" / "STS-B.tsv").read_text().splitlines()[1:]
    assert len(scores) == 10 and all(re.fullmatch(r"\d+\t-?\d+\.\d{4}", line) for line in scores)


def test_init_from_keeps_trained_heads_and_adds_new_ones(encoder_dir, tmp_path):
    specs = load_task_specs(["rte", "stsb", "wnli"])
    first = build_model(ModelArguments(model_name_or_path=encoder_dir), {n: specs[n] for n in ("rte", "stsb")})
    first.save_pretrained(tmp_path / "mtdnn")
    continued = build_model(ModelArguments(init_from=str(tmp_path / "mtdnn")), {n: specs[n] for n in ("rte", "wnli")})
    assert isinstance(continued, MTDNNForMultiTask)
    assert sorted(continued.heads) == ["rte", "stsb", "wnli"]
    for key, value in first.state_dict().items():
        assert torch.equal(continued.state_dict()[key], value), key


def test_init_from_refuses_a_head_of_another_kind(encoder_dir, tmp_path):
    specs = load_task_specs(["rte"])
    build_model(ModelArguments(model_name_or_path=encoder_dir), specs).save_pretrained(tmp_path / "mtdnn")
    specs["rte"].head = "linear"
    with pytest.raises(ValueError, match=re.escape("Task 'rte': the checkpoint")) as error:
        build_model(ModelArguments(init_from=str(tmp_path / "mtdnn")), specs)
    assert "has head='san' but the task file says 'linear'" in str(error.value)


def test_a_task_missing_from_the_local_copy_fails_before_training(encoder_dir, tmp_path):
    copy = write_local_copy(tmp_path / "glue", {"rte": {"train": pairs(), "validation": pairs()}})
    flags = common_flags(encoder_dir, tmp_path / "out", copy) + ["--tasks", "rte,mrpc", "--do_train"]
    with pytest.raises(ValueError, match=re.escape("Task 'mrpc': the local copy")):
        main(flags)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def qnli_validation_only(folder):
    """A GLUE copy whose QNLI has its validation split alone: 12 questions of two candidates, 4 of one."""
    questions = [f"Question {i}?" for i in range(12) for _ in range(2)] + [f"Lone {i}?" for i in range(4)]
    sentences = [f"Sentence {i} about something." for i in range(len(questions))]
    labels = [0, 1] * 12 + [0, 1, 0, 1]
    rows = datasets.Dataset.from_dict({"question": questions, "sentence": sentences, "label": labels})
    return write_local_copy(folder, {"qnli": {"validation": rows}})


def test_qnli_without_a_train_split_fails_before_training_and_trains_from_a_grouped_validation_split(encoder_dir, tmp_path):  # fmt: skip
    data = qnli_validation_only(tmp_path / "glue")
    flags = ["--tasks", "qnli", "--do_train", "--do_eval", "--max_steps", "2", "--per_device_train_batch_size", "2", "--save_strategy", "no"]  # fmt: skip
    with pytest.raises(ValueError, match=re.escape("Task 'qnli': split 'train' (the task's train split) not found")) as error:  # fmt: skip
        main(common_flags(encoder_dir, tmp_path / "refused", data) + flags)
    assert "declare the task in your own task file (--task_files)" in str(error.value)
    assert not (tmp_path / "refused" / "model.safetensors").exists()

    task_file = REPO / "benchmarks" / "tasks" / "qnli_from_validation.yaml"
    metrics = main(common_flags(encoder_dir, tmp_path / "out", data) + flags + ["--task_files", str(task_file)])
    spec = load_task_specs(["qnli"], [task_file])["qnli"]
    train = load_raw_split(spec, "validation", data, role="train")
    held_out = load_raw_split(spec, "validation", data, role="validation")
    assert not set(train["question"]) & set(held_out["question"])
    # training rows: the train side's questions with a candidate to rank against (lone ones train nothing)
    assert metrics["train_qnli_samples"] == sum(1 for q in set(train["question"]) if not q.startswith("Lone"))
    assert len(held_out) == 28 - len(train) and 0 <= metrics["eval_qnli_accuracy"] <= 1


@pytest.mark.parametrize(
    "argv, error, message",
    [
        (["--tasks", " , ", "--output_dir", "x"], ValueError, "--tasks ' , ' names no task"),
        (["--train_fraction", "0", "--output_dir", "x"], ValueError, "--train_fraction must be in (0, 1], got 0.0."),
        (["missing.yaml"], ValueError, "Argument file 'missing.yaml' does not exist."),
        (["--lora_alpha", "32", "--output_dir", "x"], ValueError, "--lora_alpha was given without --lora_r; pass --lora_r (the adapters' rank, e.g. 8) to train LoRA adapters, or leave the LoRA settings out."),
    ],
)  # fmt: skip
def test_bad_arguments(argv, error, message):
    with pytest.raises(error, match=re.escape(message)):
        parse_args(argv)


def test_pooling_flag_reaches_the_model_and_init_from_keeps_its_own(encoder_dir, tmp_path):
    specs = load_task_specs(["stsb"])
    (model_args,) = HfArgumentParser(ModelArguments).parse_args_into_dataclasses(
        ["--model_name_or_path", encoder_dir, "--pooling", "mean"]
    )
    build_model(model_args, specs).save_pretrained(tmp_path / "mtdnn")
    assert build_model(ModelArguments(init_from=str(tmp_path / "mtdnn")), specs).config.pooling == "mean"
    assert (
        build_model(ModelArguments(init_from=str(tmp_path / "mtdnn"), pooling="mean"), specs).config.pooling == "mean"
    )
    with pytest.raises(ValueError, match=re.escape("--pooling cls differs from the pooling of")) as error:
        build_model(ModelArguments(init_from=str(tmp_path / "mtdnn"), pooling="cls"), specs)
    assert "('mean'), which its heads were trained with; leave --pooling out to keep it." in str(error.value)
    with pytest.raises(SystemExit):
        HfArgumentParser(ModelArguments).parse_args_into_dataclasses(["--pooling", "max"])


def write_csv_tasks(folder):
    """A tiny pair-classification task and a regression task as csv files with a task file: no GLUE needed."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["s1,s2,label"] + [f"a cat number {i},a dog number {i % 3},{['pos', 'neg'][i % 2]}" for i in range(12)]
    (folder / "pairs.csv").write_text("\n".join(rows) + "\n")
    scores = ["s1,s2,label"] + [f"a cat number {i},a dog number {i % 3},{i / 3:.2f}" for i in range(12)]
    (folder / "scores.csv").write_text("\n".join(scores) + "\n")
    (folder / "tasks.yaml").write_text(
        "dataset: csv\ntasks:\n"
        "  toy_nli:\n    data_files: {train: pairs.csv, validation: pairs.csv, test: pairs.csv}\n"
        "    text_columns: [s1, s2]\n    task_type: classification\n    head: san\n    label_names: [pos, neg]\n"
        "    metric: accuracy\n    submission_file: toy.tsv\n"
        "  toy_sts:\n    data_files: {train: scores.csv, validation: scores.csv, test: scores.csv}\n    text_columns: [s1, s2]\n"
        "    task_type: regression\n    metric: pearson_spearman\n"
    )
    return folder / "tasks.yaml"


def csv_flags(encoder_dir, output_dir, task_file, *extra):
    return ["--model_name_or_path", encoder_dir, "--task_files", str(task_file), "--tasks", "toy_nli,toy_sts", "--output_dir", str(output_dir), "--report_to", "none", "--disable_tqdm", "true", "--per_device_train_batch_size", "4", "--max_steps", "2", "--save_strategy", "no", *extra]  # fmt: skip


def test_end_to_end_over_a_small_task_file(encoder_dir, tmp_path):
    task_file = write_csv_tasks(tmp_path / "data")
    out = tmp_path / "out"
    metrics = main(csv_flags(encoder_dir, out, task_file, "--do_train", "--do_eval", "--do_predict"))
    assert {"eval_toy_nli_accuracy", "eval_toy_sts_pearson", "eval_average", "train_toy_nli_samples"} <= set(metrics)
    assert MTDNNForMultiTask.from_pretrained(out).config.tasks["toy_nli"]["inputs"] == "pair"
    assert (out / "glue_submission" / "toy.tsv").read_text().splitlines()[0] == "index\tprediction"


def test_lora_fine_tuning_trains_only_the_adapter_and_head_and_saves_the_adapter(encoder_dir, tmp_path):
    task_file = write_csv_tasks(tmp_path / "data")
    first = tmp_path / "mtdnn"
    main(csv_flags(encoder_dir, first, task_file, "--do_train"))
    out = tmp_path / "lora"
    flags = csv_flags(encoder_dir, out, task_file, "--do_train", "--do_eval", "--init_from", str(first), "--lora_r", "4", "--lora_target_modules", "query,key,value", "--learning_rate", "1e-2")  # fmt: skip
    flags[flags.index("--tasks") + 1] = "toy_nli"
    metrics = main(flags)
    assert "eval_toy_nli_accuracy" in metrics
    start, tuned = MTDNNForMultiTask.from_pretrained(first), MTDNNForMultiTask.from_pretrained(out)
    assert tuned.config.task_adapters == {"toy_nli": {"r": 4, "lora_alpha": 16.0, "lora_dropout": 0.1, "target_modules": ["key", "query", "value"]}}  # fmt: skip
    # The encoder and the other task's head are the checkpoint's; the adapter and the task's head trained.
    assert {
        key: value for key, value in tuned.encoder_state_dict().items()
    }.keys() == start.encoder.state_dict().keys()
    for key, value in start.encoder.state_dict().items():
        assert torch.equal(tuned.encoder_state_dict()[key], value), key
    for key, value in start.heads["toy_sts"].state_dict().items():
        assert torch.equal(tuned.heads["toy_sts"].state_dict()[key], value), key
    assert any(not torch.equal(value, start.heads["toy_nli"].state_dict()[key]) for key, value in tuned.heads["toy_nli"].state_dict().items())  # fmt: skip
    assert any("lora_B.toy_nli" in key and value.abs().sum() > 0 for key, value in tuned.state_dict().items())
    # The adapter folder is small and loads onto the starting checkpoint to give the tuned model's outputs.
    folder = out / "adapters" / "toy_nli"
    assert (folder / "adapter_model.safetensors").stat().st_size < 0.05 * (out / "model.safetensors").stat().st_size
    start.remove_task("toy_nli")
    start.load_task_adapter(folder)
    batch = {"input_ids": torch.tensor([[101, 7592, 102, 2088, 102]]), "token_type_ids": torch.tensor([[0, 0, 0, 1, 1]])}  # fmt: skip
    torch.testing.assert_close(start.eval()(**batch, task_name="toy_nli").logits, tuned.eval()(**batch, task_name="toy_nli").logits)  # fmt: skip


def test_training_into_a_used_output_folder_is_refused_unless_overwritten(encoder_dir, tmp_path):
    task_file = write_csv_tasks(tmp_path / "data")
    out = tmp_path / "out"
    main(csv_flags(encoder_dir, out, task_file, "--do_train", "--do_eval"))
    first = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    with pytest.raises(ValueError, match=re.escape(f"--output_dir '{out}' already holds ['all_results.json', 'config.json', 'eval_results.json', 'model.safetensors', 'train_results.json'] of an earlier run. Pass --overwrite_output_dir to train into it anyway")):  # fmt: skip
        main(csv_flags(encoder_dir, out, task_file, "--do_train"))
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == first  # nothing touched

    # With the flag, a train-only run leaves no eval results of the earlier run to be merged into its own.
    main(csv_flags(encoder_dir, out, task_file, "--do_train", "--overwrite_output_dir", "--seed", "7"))
    assert not (out / "eval_results.json").exists()
    assert not any(key.startswith("eval_") for key in json.loads((out / "all_results.json").read_text()))


def test_evaluating_into_a_model_folder_needs_no_flag(encoder_dir, tmp_path):
    task_file = write_csv_tasks(tmp_path / "data")
    out = tmp_path / "out"
    main(csv_flags(encoder_dir, out, task_file, "--do_train"))
    metrics = main(csv_flags(encoder_dir, out, task_file, "--do_eval", "--init_from", str(out)))
    assert "eval_average" in metrics


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp, enc: str(tmp), "is not an MT-DNN checkpoint: it has no config.json. Point it at a folder written by run_mtdnn.py or save_pretrained"),
        (lambda tmp, enc: enc, "holds a 'bert' model, not an MT-DNN checkpoint; to start from a pretrained encoder, pass it as --model_name_or_path instead."),
    ],
)  # fmt: skip
def test_init_from_a_folder_that_is_not_an_mtdnn_checkpoint(encoder_dir, tmp_path, make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model(ModelArguments(init_from=make(tmp_path, encoder_dir)), load_task_specs(["stsb"]))


def test_init_from_applies_dropout_and_loss_weight_and_refuses_another_label_order(encoder_dir, tmp_path):
    specs = load_task_specs(["rte", "stsb"])
    build_model(ModelArguments(model_name_or_path=encoder_dir), specs).save_pretrained(tmp_path / "mtdnn")
    specs["rte"].dropout, specs["stsb"].loss_weight = 0.3, 2.0
    model = build_model(ModelArguments(init_from=str(tmp_path / "mtdnn")), specs)
    assert model.config.tasks["rte"]["dropout"] == 0.3 and model.heads["rte"].dropout.p == 0.3
    assert model.config.tasks["stsb"]["loss_weight"] == 2.0
    specs["rte"].label_names = ["not_entailment", "entailment"]
    with pytest.raises(ValueError, match=re.escape("Task 'rte': the checkpoint")) as error:
        build_model(ModelArguments(init_from=str(tmp_path / "mtdnn")), specs)
    assert "has id2label={0: 'entailment', 1: 'not_entailment'} but the task file says {0: 'not_entailment', 1: 'entailment'}" in str(error.value)  # fmt: skip


def test_argument_files_that_do_not_parse_are_named(tmp_path):
    (tmp_path / "run.yaml").write_text("tasks: [rte\n")
    with pytest.raises(ValueError, match=re.escape(f"Argument file '{tmp_path / 'run.yaml'}' cannot be parsed:")):
        parse_args([str(tmp_path / "run.yaml")])
    (tmp_path / "run.json").write_text('{"tasks": "rte",}')
    with pytest.raises(ValueError, match=re.escape(f"Argument file '{tmp_path / 'run.json'}' cannot be parsed:")):
        parse_args([str(tmp_path / "run.json")])


def test_run_script_with_a_json_argument_file(encoder_dir, tmp_path):
    task_file = write_csv_tasks(tmp_path / "data")
    (tmp_path / "run.json").write_text(json.dumps({"tasks": "toy_sts", "do_eval": True, "max_eval_samples": 6}))
    flags = csv_flags(encoder_dir, tmp_path / "out", task_file)
    flags[flags.index("--tasks") + 1 : flags.index("--tasks") + 2] = ["toy_sts"]
    metrics = main([str(tmp_path / "run.json"), *flags])
    assert {"eval_toy_sts_pearson", "eval_average"} <= set(metrics)


@pytest.mark.parametrize("flag", ["--model_name_or_path", "--init_from", "--tokenizer_name"])
def test_a_local_path_flag_that_does_not_exist_is_named(flag, tmp_path):
    missing = str(tmp_path / "no-such-model")
    argv = ["--output_dir", str(tmp_path / "out"), "--tasks", "stsb", "--do_eval", flag, missing]
    with pytest.raises(ValueError, match=re.escape(f"{flag} '{missing}' is a local path that does not exist; fix the path (it is not a Hub id).")):  # fmt: skip
        main(argv)


def small_glue(folder):
    """A local GLUE copy in the Hub's layout with CoLA and MNLI (both mismatched sets, test splits labelled -1)."""
    import datasets

    words = ["a", "cat", "dog", "sat", "ran", "on", "the", "mat", "big", "small", "red", "slowly"]

    def sentence(i, n=5):
        return " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(n + i % 4))

    def cola(n, labelled=True):
        return datasets.Dataset.from_dict({"sentence": [sentence(i) for i in range(n)], "label": [i % 2 if labelled else -1 for i in range(n)], "idx": list(range(n))})  # fmt: skip

    def mnli(n, labelled=True):
        return datasets.Dataset.from_dict({"premise": [sentence(i) for i in range(n)], "hypothesis": [sentence(i + 3, 3) for i in range(n)], "label": [i % 3 if labelled else -1 for i in range(n)], "idx": list(range(n))})  # fmt: skip

    return write_local_copy(
        folder,
        {
            "cola": {"train": cola(24), "validation": cola(10), "test": cola(7, labelled=False)},
            "mnli": {
                "train": mnli(24),
                "validation_matched": mnli(9),
                "validation_mismatched": mnli(8),
                "test_matched": mnli(6, False),
                "test_mismatched": mnli(5, False),
            },  # fmt: skip
        },
    )


def test_glue_submission_files_and_mnli_mismatched_through_the_run_script(encoder_dir, tmp_path):
    data = small_glue(tmp_path / "glue")
    out = tmp_path / "out"
    flags = common_flags(encoder_dir, out, data) + ["--tasks", "cola,mnli", "--do_train", "--do_eval", "--do_predict", "--max_steps", "2", "--per_device_train_batch_size", "4", "--save_strategy", "no"]  # fmt: skip
    metrics = main(flags)
    assert {"eval_mnli_accuracy", "eval_mnli_mm_accuracy", "eval_cola_matthews_correlation"} <= set(metrics)
    results = json.loads((out / "eval_results.json").read_text())
    assert results["eval_mnli_mm_accuracy"] == metrics["eval_mnli_mm_accuracy"]
    submissions = out / "glue_submission"
    assert sorted(path.name for path in submissions.iterdir()) == ["CoLA.tsv", "MNLI-m.tsv", "MNLI-mm.tsv"]
    cola = [line.split("\t") for line in (submissions / "CoLA.tsv").read_text().splitlines()]
    assert cola[0] == ["index", "prediction"] and [row[0] for row in cola[1:]] == [str(i) for i in range(7)]
    assert {row[1] for row in cola[1:]} <= {"0", "1"}  # CoLA is scored from class ids
    matched = [line.split("\t") for line in (submissions / "MNLI-m.tsv").read_text().splitlines()[1:]]
    mismatched = [line.split("\t") for line in (submissions / "MNLI-mm.tsv").read_text().splitlines()[1:]]
    assert len(matched) == 6 and len(mismatched) == 5
    assert {row[1] for row in matched + mismatched} <= {"entailment", "neutral", "contradiction"}  # MNLI: names


def test_the_best_model_by_eval_average_is_loaded_at_the_end(encoder_dir, tmp_path):
    data = small_glue(tmp_path / "glue")
    out = tmp_path / "out"
    flags = common_flags(encoder_dir, out, data) + ["--tasks", "cola,mnli", "--do_train", "--max_steps", "4", "--per_device_train_batch_size", "4", "--learning_rate", "5e-3", "--eval_strategy", "steps", "--eval_steps", "1", "--save_strategy", "steps", "--save_steps", "1", "--load_best_model_at_end", "true", "--metric_for_best_model", "average", "--max_eval_samples", "8"]  # fmt: skip
    main(flags)
    state = json.loads((out / "trainer_state.json").read_text())
    averages = {entry["step"]: entry["eval_average"] for entry in state["log_history"] if "eval_average" in entry}
    assert sorted(averages) == [1, 2, 3, 4]
    best_step = max(averages, key=lambda step: (averages[step], -step))
    assert state["best_metric"] == pytest.approx(averages[best_step])
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best_step}")
    best = MTDNNForMultiTask.from_pretrained(state["best_model_checkpoint"])
    final = MTDNNForMultiTask.from_pretrained(out)
    for key, value in best.state_dict().items():
        assert torch.equal(final.state_dict()[key], value), key


def test_init_from_with_train_fraction_end_to_end(encoder_dir, tmp_path):
    data = small_glue(tmp_path / "glue")
    first = tmp_path / "mtdnn"
    main(common_flags(encoder_dir, first, data) + ["--tasks", "cola,mnli", "--do_train", "--max_steps", "2", "--per_device_train_batch_size", "4", "--save_strategy", "no"])  # fmt: skip
    adapted = tmp_path / "adapted"
    metrics = main(common_flags(encoder_dir, adapted, data) + ["--init_from", str(first), "--tasks", "mnli", "--train_fraction", "0.25", "--do_train", "--do_eval", "--num_train_epochs", "1", "--per_device_train_batch_size", "2", "--save_strategy", "no"])  # fmt: skip
    assert metrics["train_mnli_samples"] == 6  # ceil(0.25 * 24)
    assert json.loads((adapted / "trainer_state.json").read_text())["global_step"] == 3
    model = MTDNNForMultiTask.from_pretrained(adapted)
    assert sorted(model.config.tasks) == ["cola", "mnli"]  # the multi-task heads travel on
    assert "eval_mnli_mm_accuracy" in metrics


def test_the_demo_config_parses_and_the_score_table_prints(encoder_dir):
    model_args, data_args, training_args = parse_args([str(REPO / "training" / "configs" / "demo.yaml"), "--model_name_or_path", encoder_dir])  # fmt: skip
    assert data_args.task_names == ["mnli", "rte", "stsb", "cola", "sst2"] and data_args.max_train_samples == 3000
    assert data_args.max_eval_samples == 3000  # cuts MNLI-m/mm only: the demo's 15 minutes
    assert model_args.pooling == "mean" and model_args.model_name_or_path == encoder_dir
    assert plain_value(training_args.optim) == "adamax" and training_args.learning_rate == 1e-4
    assert training_args.num_train_epochs == 2 and training_args.per_device_train_batch_size == 32
    assert training_args.overwrite_output_dir  # `make demo` twice replaces its own earlier output
    assert plain_value(training_args.train_sampling_strategy) == "group_by_length"
    specs = load_task_specs(data_args.task_names)
    eval_specs = {key: EvalSpec(task_name=name, metric=spec.metric) for name, spec in specs.items() for key in spec.eval_splits()}  # fmt: skip
    eval_specs["mnli_mm"] = EvalSpec(task_name="mnli", metric="mnli_mm")
    metrics = {"eval_mnli_accuracy": 0.5328, "eval_mnli_mm_accuracy": 0.5543, "eval_rte_accuracy": 0.556, "eval_stsb_pearson": 0.78625, "eval_stsb_spearmanr": 0.8, "eval_cola_matthews_correlation": 0.05, "eval_sst2_accuracy": 0.8, "eval_average": 0.55}  # fmt: skip
    assert format_score_table(metrics, eval_specs).splitlines() == [
        "task     metric                dev score",
        "----------------------------------------",
        "mnli     accuracy              0.5328",
        "mnli_mm  accuracy              0.5543",
        "rte      accuracy              0.5560",
        "stsb     pearson               0.7863",
        "stsb     spearmanr             0.8000",
        "cola     matthews_correlation  0.0500",
        "sst2     accuracy              0.8000",
        "average                        0.5500",
    ]


def plain_value(value):
    return getattr(value, "value", value)


def test_run_mtdnn_runs_as_a_script(encoder_dir, tmp_path):
    task_file = write_csv_tasks(tmp_path / "data")
    flags = csv_flags(encoder_dir, tmp_path / "out", task_file, "--do_train", "--do_eval")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    completed = subprocess.run([sys.executable, str(REPO / "training" / "run_mtdnn.py"), *flags], capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Dev scores:" in completed.stdout and "toy_sts  pearson" in completed.stdout
    assert {"eval_toy_nli_accuracy", "eval_average"} <= set(json.loads((tmp_path / "out" / "eval_results.json").read_text()))  # fmt: skip


def written_text_files(folder):
    for path in Path(folder).rglob("*"):
        if path.is_file():
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:
                continue  # weights, pickles, images


def test_nothing_saved_or_pushed_holds_a_machine_path(encoder_dir, tmp_path, monkeypatch):
    """A model built on a local encoder folder: config, head config, card, trainer state, results, uploads."""
    monkeypatch.chdir(tmp_path)  # a relative output folder, as a user types it
    task_file = write_csv_tasks(tmp_path / "data")
    hub = RecordedHub(monkeypatch)
    flags = csv_flags(encoder_dir, "out", task_file, "--do_train", "--do_eval", "--do_predict", "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "steps", "--eval_steps", "2", "--metric_for_best_model", "average", "--load_best_model_at_end", "true", "--push_to_hub", "true", "--hub_model_id", "org/tiny-mt-dnn", "--lr_scheduler_type", "linear")  # fmt: skip
    main(flags)
    model = MTDNNForMultiTask.from_pretrained("out")
    model.save_head("toy_nli", "head")
    machine_paths = [str(tmp_path), os.path.dirname(encoder_dir), str(Path.home()), sys.prefix]
    checked = 0
    for root in ("out", "head"):
        for path, text in written_text_files(tmp_path / root):
            checked += 1
            for machine_path in machine_paths:
                assert machine_path not in text, (path, machine_path)
    assert checked > 10
    uploads = [args["files"] for kind, repo, args in hub.calls if kind in ("upload_folder", "create_commit")]
    assert uploads
    for files in uploads:
        for name, content in files.items():
            for machine_path in machine_paths:
                assert machine_path.encode() not in content, (name, machine_path)

    card = (tmp_path / "out" / "README.md").read_text()
    assert card.startswith("---") and "\n# tiny-mt-dnn\n" in card  # the title is the Hub repo's name
    assert "- lr_scheduler_type: linear\n" in card and "SchedulerType" not in card
    assert "(initialised from a local encoder folder, `encoder" in card
    assert "base_model" not in card.split("---")[1]  # no Hub id is known for a local folder
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["best_model_checkpoint"].startswith("out/checkpoint-")


def test_the_card_title_is_the_output_folder_and_base_model_the_encoders_hub_id(encoder_dir, tmp_path, monkeypatch):
    import modeling_mtdnn.modeling_mtdnn as modeling

    task_file = write_csv_tasks(tmp_path / "data")
    loader = modeling.AutoModel.from_pretrained
    monkeypatch.setattr(modeling.AutoModel, "from_pretrained", lambda name, **kwargs: loader(encoder_dir if name == "org/tiny-bert" else name, **kwargs))  # fmt: skip
    flags = csv_flags(encoder_dir, tmp_path / "my-mt-dnn", task_file, "--do_train", "--tokenizer_name", encoder_dir)
    flags[flags.index("--model_name_or_path") + 1] = "org/tiny-bert"
    main(flags)
    card = (tmp_path / "my-mt-dnn" / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["base_model"] == "org/tiny-bert"
    assert (
        "\n# my-mt-dnn\n" in card
        and "(initialised from [org/tiny-bert](https://huggingface.co/org/tiny-bert))" in card
    )


def test_a_run_says_what_it_trains_names_its_bars_and_cards_the_part_it_scored(encoder_dir, tmp_path, caplog, capfd):
    task_file = write_csv_tasks(tmp_path / "data")
    out = tmp_path / "out"
    flags = csv_flags(encoder_dir, out, task_file, "--do_train", "--do_eval", "--max_eval_samples", "5", "--warmup_steps", "0.1", "--train_sampling_strategy", "group_by_length")  # fmt: skip
    flags[flags.index("--disable_tqdm") + 1] = "false"
    with caplog.at_level(logging.INFO, logger="run_mtdnn"):
        main(flags)
    said = caplog.text
    assert "MT-DNN: training 2 tasks on one encoder, 24 training rows: toy_nli (12), toy_sts (12); 2 optimizer steps (1 epochs, batch 4 per device); the model goes to" in said  # fmt: skip
    assert f"Saved the model, its tokenizer and model card to {out}, dev scores in eval_results.json." in said
    bars = capfd.readouterr().err
    assert "eval toy_nli: 100%" in bars and "eval toy_sts: 100%" in bars
    card = (out / "README.md").read_text()
    assert "| toy_nli | classification | san | pos, neg | accuracy | validation (first 5 of 12 rows) |" in card
    assert "- max_eval_samples: 5\n" in card
    assert "- warmup_steps: 0.1 (a ratio: 10% of the training steps)\n" in card
    assert "- train_sampling_strategy: group_by_length\n" in card


def test_offline_without_a_local_copy_the_error_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("MTDNN_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1, or no network
    spec = load_task_specs(["rte"])["rte"]
    with pytest.raises(ConnectionError, match="Couldn't reach 'nyu-mll/glue'") as raised:
        load_raw_split(spec, "train")
    assert str(raised.value).startswith("Task 'rte': ")
    assert str(raised.value).endswith(
        "Offline, point --data_dir (or the MTDNN_DATA_DIR environment variable) at a local copy in the layout of the "
        "Hub dataset 'nyu-mll/glue': its folder, or a folder holding it as 'glue/'."
    )


def test_max_seq_length_beyond_the_encoders_position_embeddings_is_refused_before_training(tmp_path):
    folder = tmp_path / "short-encoder"
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())  # model_max_length 512: its own check passes
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    task_file = write_csv_tasks(tmp_path / "data")
    flags = csv_flags(str(folder), tmp_path / "out", task_file, "--do_train", "--max_seq_length", "128")
    with pytest.raises(ValueError, match=re.escape("Task 'toy_nli': max_seq_length 128 is longer than the 64 positions the encoder (bert, max_position_embeddings=64) has embeddings for; lower --max_seq_length to at most 64.")):  # fmt: skip
        main(flags)
    assert not (tmp_path / "out").exists()
    main(flags[:-1] + ["64"])  # at the limit, it trains
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_roberta_style_encoders_lose_the_positions_below_their_padding_index():
    from types import SimpleNamespace

    from transformers import RobertaConfig

    from mtdnn.training.run_mtdnn import check_position_limit

    model = SimpleNamespace(config=SimpleNamespace(encoder_config=RobertaConfig(max_position_embeddings=514, pad_token_id=1)))  # fmt: skip
    specs = load_task_specs(["rte"])
    check_position_limit(model, specs, 512)  # roberta-base: 514 embeddings, positions from 2
    with pytest.raises(ValueError, match=re.escape("max_seq_length 513 is longer than the 512 positions")):
        check_position_limit(model, specs, 513)

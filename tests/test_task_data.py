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

import dataclasses
import math
import re
from pathlib import Path

import datasets
import pytest
from transformers import AutoTokenizer

from modeling_mtdnn import MTDNNConfig
from training.task_data import (
    BUILTIN_TASK_FILES,
    TaskDataSpec,
    load_raw_split,
    load_task_specs,
    prepare_split,
)

from .conftest import local_copy_splits, minilm_folder, shared_glue_dir, tiny_bert_config, write_local_copy

BENCHMARK_TASKS = Path(__file__).resolve().parents[1] / "benchmarks" / "tasks"
ALL_TASKS = [
    "cola",
    "sst2",
    "mrpc",
    "stsb",
    "qqp",
    "mnli",
    "qnli",
    "rte",
    "wnli",
    "snli",
    "scitail",
    "conll2003",
    "squad",
]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def test_every_builtin_task_is_defined_and_builds_a_model_config():
    assert {path.name for path in BUILTIN_TASK_FILES} == {
        "glue.yaml",
        "snli.yaml",
        "scitail.yaml",
        "conll2003.yaml",
        "squad.yaml",
    }
    specs = load_task_specs(ALL_TASKS)
    assert list(specs) == ALL_TASKS
    config = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={n: s.model_spec() for n, s in specs.items()})
    assert config.tasks["rte"]["head"] == "san" and config.tasks["stsb"]["task_type"] == "regression"
    assert config.tasks["qnli"]["task_type"] == "ranking" and config.tasks["mnli"]["dropout"] == 0.3
    assert config.tasks["cola"]["dropout"] == 0.05 and config.tasks["cola"]["head"] == "linear"
    assert specs["mnli"].eval_splits() == {"mnli": "validation_matched", "mnli_mm": "validation_mismatched"}
    assert specs["snli"].dataset == "stanfordnlp/snli" and specs["snli"].drop_labels == [-1]
    assert specs["scitail"].dataset == "allenai/scitail" and specs["scitail"].config == "tsv_format"
    assert config.tasks["conll2003"]["task_type"] == "token_classification"
    assert config.tasks["conll2003"]["id2label"][1] == "B-PER" and specs["conll2003"].metric == "seqeval"
    assert config.tasks["squad"]["task_type"] == "span_extraction" and config.tasks["squad"]["inputs"] == "pair"


def test_load_every_task_of_the_local_copy_as_its_metadata_declares():
    """Every config of the local GLUE copy that a built-in task reads loads with the rows its README declares."""
    folder = shared_glue_dir()
    declared = local_copy_splits(folder)
    specs = load_task_specs(ALL_TASKS)
    checked = []
    for name, spec in specs.items():
        if spec.dataset != "nyu-mll/glue" or spec.config not in declared:
            continue
        for split, rows in declared[spec.config].items():
            loaded = load_raw_split(spec, split, folder)
            assert len(loaded) == rows, (name, split)
            if spec.task_type == "classification" and "label" in loaded.features:
                assert loaded.features["label"].names == spec.label_names, name
            checked.append(name)
    assert checked, f"no built-in task reads any config of {folder}"


@pytest.fixture
def small_glue_copy(tmp_path):
    """A local copy with RTE (train and validation) and QNLI (validation only), nothing else."""
    rte = pairs()
    qnli = datasets.Dataset.from_dict({"question": ["q"], "sentence": ["a"], "label": [0]})
    return write_local_copy(
        tmp_path / "glue", {"rte": {"train": rte, "validation": rte}, "qnli": {"validation": qnli}}
    )


@pytest.mark.parametrize("task", ["mrpc", "mnli", "qqp"])
def test_task_missing_from_the_local_copy_is_a_clear_error(small_glue_copy, task):
    spec = load_task_specs([task])[task]
    with pytest.raises(ValueError, match=re.escape(f"Task '{task}': the local copy '{small_glue_copy}' has no configuration '{task}'")) as error:  # fmt: skip
        load_raw_split(spec, "train", small_glue_copy)
    assert "Unset --data_dir / MTDNN_DATA_DIR to load 'nyu-mll/glue' from the Hub, or add the data there." in str(error.value)  # fmt: skip


def test_split_missing_from_the_local_copy_is_a_clear_error(small_glue_copy):
    spec = load_task_specs(["qnli"])["qnli"]
    assert len(load_raw_split(spec, "validation", small_glue_copy)) == 1
    with pytest.raises(ValueError, match=re.escape(f"Task 'qnli': split 'train' (the task's train split) not found in '{small_glue_copy}' (it has ['validation']). Leave out the stage that needs it, or declare the task in your own task file (--task_files) whose 'splits' map train and validation onto the splits that exist: another split, a slice ('validation[:50%]'), or one split divided by whole groups with 'group_split' (benchmarks/tasks/qnli_from_validation.yaml")):  # fmt: skip
        load_raw_split(spec, "train", small_glue_copy, role="train")


def test_snli_train_split_missing_from_a_copy_without_one(tmp_path):
    rows = datasets.Dataset.from_dict({"premise": ["A man."], "hypothesis": ["A person."], "label": [0]})
    folder = write_local_copy(tmp_path / "snli", {"plain_text": {"validation": rows, "test": rows}})
    spec = load_task_specs(["snli"])["snli"]
    with pytest.raises(ValueError, match=re.escape("Task 'snli': split 'train' (the task's train split) not found")):
        load_raw_split(spec, "train", folder, role="train")
    adaptation = load_task_specs(["snli"], [BENCHMARK_TASKS / "snli_adaptation.yaml"])["snli"]
    assert list(load_raw_split(adaptation, adaptation.splits["train"], folder, role="train")["premise"]) == ["A man."]


QNLI_ROWS = {
    "question": ["q1", "q1", "q2", "q3", "q3", "q4", "q5", "q5", "q6", "q7"],
    "sentence": [f"s{i}" for i in range(10)],
    "label": [0, 1, 0, 0, 1, 1, 1, 0, 0, 1],
}


@pytest.fixture
def qnli_validation_copy(tmp_path):
    """A local GLUE copy whose QNLI has a validation split only, questions with one to two candidates."""
    rows = datasets.Dataset.from_dict(QNLI_ROWS)
    return write_local_copy(tmp_path / "glue", {"qnli": {"validation": rows}})


def test_group_split_puts_every_question_on_one_side(qnli_validation_copy):
    spec = load_task_specs(["qnli"], [BENCHMARK_TASKS / "qnli_from_validation.yaml"])["qnli"]
    assert spec.group_split == {"column": "question", "validation_fraction": 0.5, "seed": 0}
    train = load_raw_split(spec, "validation", qnli_validation_copy, role="train")
    held_out = load_raw_split(spec, "validation", qnli_validation_copy, role="validation")
    assert not set(list(train["question"])) & set(list(held_out["question"]))
    assert sorted(list(train["sentence"]) + list(held_out["sentence"])) == sorted(
        QNLI_ROWS["sentence"]
    )  # every row, once
    assert (
        len(set(list(held_out["question"]))) == 4 and len(set(list(train["question"]))) == 3
    )  # round(0.5 * 7) held out
    # the side of a question depends on the seed alone, not on which side is asked for first
    again = load_raw_split(spec, "validation", qnli_validation_copy, role="validation")
    assert list(again["sentence"]) == list(held_out["sentence"])
    other_seed = dataclasses.replace(spec, group_split=spec.group_split | {"seed": 1})
    assert list(load_raw_split(other_seed, "validation", qnli_validation_copy, role="validation")["question"]) != list(held_out["question"])  # fmt: skip
    # without a role (an extra evaluation split, a test split) the whole split is read
    assert len(load_raw_split(spec, "validation", qnli_validation_copy)) == 10


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"splits": {"train": "validation", "validation": "validation"}},
            "Task 'qnli': field 'splits' must be different splits for train and validation (a model scored on its "
            "training rows tells nothing); to serve both from one split, add group_split: {column: <a text column>, "
            "validation_fraction: 0.5}",
        ),
        (
            {
                "splits": {"train": "train", "validation": "validation"},
                "group_split": {"column": "question", "validation_fraction": 0.5},
            },  # fmt: skip
            "Task 'qnli': field 'splits' must be train and validation on the same dataset split when group_split is "
            "given",
        ),
        (
            {
                "splits": {"train": "validation", "validation": "validation"},
                "group_split": {"column": "question", "validation_fraction": 1.5},
            },  # fmt: skip
            "Task 'qnli': field 'group_split.validation_fraction' must be a number between 0 and 1 (exclusive), got "
            "1.5.",
        ),
        (
            {"splits": {"train": "validation", "validation": "validation"}, "group_split": {"by": "question"}},
            "Task 'qnli': field 'group_split' must be a mapping with keys column, validation_fraction and seed",
        ),
    ],
)
def test_group_split_declarations_are_checked(overrides, message):
    spec = qnli_spec()
    fields = {field.name: getattr(spec, field.name) for field in dataclasses.fields(spec)}
    with pytest.raises(ValueError, match=re.escape(message)):
        TaskDataSpec(**(fields | {"group_split": None} | overrides))


def test_group_split_column_must_exist(qnli_validation_copy):
    spec = load_task_specs(["qnli"], [BENCHMARK_TASKS / "qnli_from_validation.yaml"])["qnli"]
    spec = dataclasses.replace(spec, group_split=spec.group_split | {"column": "query"})
    with pytest.raises(ValueError, match=re.escape("Task 'qnli': group_split column 'query' not found; the dataset has ['question', 'sentence', 'label']")):  # fmt: skip
        load_raw_split(spec, "validation", qnli_validation_copy, role="train")


def test_sliced_splits_of_a_ranking_task_must_keep_each_question_on_one_side(qnli_validation_copy):
    spec = dataclasses.replace(qnli_spec(), splits={"train": "validation[:3]", "validation": "validation[3:]"})
    train = load_raw_split(spec, "validation[:3]", qnli_validation_copy, role="train")
    assert list(train["sentence"]) == ["s0", "s1", "s2"]
    straddling = dataclasses.replace(qnli_spec(), splits={"train": "validation[:40%]", "validation": "validation[40%:]"})  # fmt: skip
    assert len(load_raw_split(straddling, "validation[40%:]", qnli_validation_copy)) == 6  # no role: no check
    for role, split in straddling.splits.items():
        with pytest.raises(ValueError, match=re.escape("Task 'qnli' (ranking): 1 'question' value(s) have candidates on both sides of the split, in the train rows 'validation[:40%]' and the validation rows 'validation[40%:]' (the first: 'q3'); every query's candidates must be on one side")):  # fmt: skip
            load_raw_split(straddling, split, qnli_validation_copy, role=role)
    apart = dataclasses.replace(qnli_spec(), splits={"train": "validation[:5]", "validation": "validation[5:]"})
    assert len(load_raw_split(apart, "validation[5:]", qnli_validation_copy, role="validation")) == 5
    bad = dataclasses.replace(qnli_spec(), splits={"train": "validation[:x]", "validation": "validation[5:]"})
    with pytest.raises(ValueError, match=re.escape("Task 'qnli': split 'validation[:x]' is not a valid slice")):
        load_raw_split(bad, "validation[:x]", qnli_validation_copy)


def test_data_dir_from_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("MTDNN_DATA_DIR", str(tmp_path / "missing"))
    spec = load_task_specs(["rte"])["rte"]
    with pytest.raises(ValueError, match=re.escape("does not exist; fix --data_dir or MTDNN_DATA_DIR")):
        load_raw_split(spec, "train")


def pair_spec(**overrides) -> TaskDataSpec:
    fields = {
        "name": "rte",
        "dataset": "nyu-mll/glue",
        "text_columns": ["sentence1", "sentence2"],
        "task_type": "classification",
        "metric": "rte",
        "label_names": ["entailment", "not_entailment"],
    }
    return TaskDataSpec(**(fields | overrides))


def pairs(**columns):
    data = {
        "sentence1": ["A cat sat.", "Dogs bark loudly at night.", "Rain."],
        "sentence2": ["A cat.", "Dogs.", "Sun."],
    }
    data["label"] = [0, 1, 0]
    return datasets.Dataset.from_dict(data | columns)


def test_prepare_pairs_tokenizes_with_segments_and_labels(tokenizer):
    prepared = prepare_split(pair_spec(), pairs(), tokenizer, max_seq_length=8)
    assert prepared.column_names == ["input_ids", "token_type_ids", "attention_mask", "labels", "task_name"]
    assert prepared["labels"] == [0, 1, 0] and set(prepared["task_name"]) == {"rte"}
    assert max(len(ids) for ids in prepared["input_ids"]) == 8  # truncated
    first = prepared[0]
    assert first["input_ids"] == tokenizer("A cat sat.", "A cat.", truncation=True, max_length=8)["input_ids"]
    assert 1 in first["token_type_ids"] and first["token_type_ids"][0] == 0


def test_prepare_string_labels_and_per_task_length(tokenizer):
    spec = pair_spec(label_names=["entails", "neutral"], max_seq_length=64)
    prepared = prepare_split(spec, pairs(label=["neutral", "entails", "neutral"]), tokenizer, max_seq_length=8)
    assert prepared["labels"] == [1, 0, 1]
    assert max(len(ids) for ids in prepared["input_ids"]) > 8


def test_drop_labels_sample_limits_and_fraction(tokenizer):
    spec = pair_spec(drop_labels=[-1])
    data = pairs(label=[0, -1, 1])
    assert prepare_split(spec, data, tokenizer)["labels"] == [0, 1]
    big = datasets.Dataset.from_dict(
        {"sentence1": [f"s {i}" for i in range(200)], "sentence2": ["t"] * 200, "label": [0, 1] * 100}
    )
    assert len(prepare_split(spec, big, tokenizer, max_samples=7)) == 7
    tenth = prepare_split(spec, big, tokenizer, fraction=0.1, seed=3)
    assert len(tenth) == math.ceil(0.1 * 200)
    assert tenth["input_ids"] == prepare_split(spec, big, tokenizer, fraction=0.1, seed=3)["input_ids"]
    assert tenth["input_ids"] != prepare_split(spec, big, tokenizer, fraction=0.1, seed=4)["input_ids"]
    assert len(prepare_split(spec, big, tokenizer, fraction=0.001)) == 1
    # a fraction of 1 keeps every row in a seeded order, so with max_samples it draws a seeded random sample
    whole = prepare_split(spec, big, tokenizer, fraction=1.0, seed=3)
    assert len(whole) == 200 and sorted(map(tuple, whole["input_ids"])) == sorted(
        map(tuple, prepare_split(spec, big, tokenizer)["input_ids"])
    )
    sample = prepare_split(spec, big, tokenizer, fraction=1.0, max_samples=7, seed=3)
    assert sample["input_ids"] == whole["input_ids"][:7] != prepare_split(spec, big, tokenizer, max_samples=7)["input_ids"]  # fmt: skip


QNLI = {
    "question": ["q1", "q1", "q1", "q2", "q2", "q3", "q3"],
    "sentence": ["a", "b", "c", "d", "e", "f", "g"],
    "label": [1, 0, 1, 0, 0, 1, 1],  # 0 = entailment: q1 has one relevant answer, q2 two, q3 none
}


def qnli_spec() -> TaskDataSpec:
    return load_task_specs(["qnli"])["qnli"]


def test_ranking_groups_each_questions_candidates_for_training(tokenizer):
    data = datasets.Dataset.from_dict(
        {name: values + extra for (name, values), extra in zip(QNLI.items(), (["q4", "q4"], ["h", "i"], [0, 1]))}
    )
    grouped = prepare_split(qnli_spec(), data, tokenizer, group_candidates=True)
    # q2 has no irrelevant candidate (nothing to rank: zero loss), q3 no relevant one: both dropped
    assert grouped["group_id"] == [0, 3]
    assert grouped["labels"] == [0, 0]  # the relevant candidate comes first
    sizes = [len(row) for row in grouped["input_ids"]]
    assert sizes == [3, 2]
    first = grouped[0]["input_ids"]
    assert first[0] == tokenizer("q1", "b")["input_ids"]
    assert sorted(map(tuple, first[1:])) == sorted(
        [tuple(tokenizer("q1", "a")["input_ids"]), tuple(tokenizer("q1", "c")["input_ids"])]
    )


def test_ranking_keeps_pairs_with_group_ids_for_evaluation(tokenizer):
    flat = prepare_split(qnli_spec(), datasets.Dataset.from_dict(QNLI), tokenizer)
    assert flat["group_id"] == [0, 0, 0, 1, 1, 2, 2]
    assert flat["pair_labels"] == QNLI["label"] and "labels" not in flat.column_names


def test_ranking_without_any_positive_is_an_error(tokenizer):
    data = datasets.Dataset.from_dict({"question": ["q"], "sentence": ["a"], "label": [1]})
    with pytest.raises(
        ValueError, match=re.escape("Task 'qnli' (ranking): no question has a candidate labelled 'entailment'")
    ):
        prepare_split(qnli_spec(), data, tokenizer, group_candidates=True)
    alone = datasets.Dataset.from_dict({"question": ["q", "r"], "sentence": ["a", "b"], "label": [0, 0]})
    with pytest.raises(ValueError, match=re.escape("beside an irrelevant one, so there is nothing to rank")):
        prepare_split(qnli_spec(), alone, tokenizer, group_candidates=True)


def test_tokenization_is_cached_between_runs(tokenizer, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    pairs().to_parquet(str(folder / "train.parquet"))
    spec = pair_spec(dataset="parquet", data_files={"train": [str(folder / "train.parquet")]})
    cache = tmp_path / "cache"
    first = prepare_split(spec, load_raw_split(spec, "train", cache_dir=str(cache)), tokenizer)
    files = sorted(p.name for p in cache.rglob("cache-*.arrow"))
    assert files, "the tokenized split should be written to the datasets cache"
    again_tokenizer = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    second = prepare_split(spec, load_raw_split(spec, "train", cache_dir=str(cache)), again_tokenizer)
    assert sorted(p.name for p in cache.rglob("cache-*.arrow")) == files  # nothing re-tokenized
    assert second["input_ids"] == first["input_ids"]


def test_user_task_file_with_local_csv(tmp_path, tokenizer):
    (tmp_path / "train.csv").write_text("text,label\ngreat movie,pos\nawful,neg\n")
    (tmp_path / "tasks.yaml").write_text(
        "dataset: csv\ntasks:\n  reviews:\n    data_files: {train: train.csv}\n    text_columns: [text]\n"
        "    task_type: classification\n    label_names: [neg, pos]\n    metric: accuracy\n"
    )
    spec = load_task_specs(["reviews"], [tmp_path / "tasks.yaml"])["reviews"]
    prepared = prepare_split(spec, load_raw_split(spec, "train", cache_dir=str(tmp_path / "cache")), tokenizer)
    assert prepared["labels"] == [1, 0]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: (pair_spec(), pairs().remove_columns("sentence2")), "Task 'rte': column(s) ['sentence2'] not found; the dataset has ['sentence1', 'label']."),
        (lambda: (pair_spec(), pairs(label=[0, 2, 1])), "Task 'rte': label 2 at row 1 is outside the task's labels 0..1 (['entailment', 'not_entailment'])"),
        (lambda: (pair_spec(label_names=["a", "b"]), pairs(label=["a", "c", "b"])), "Task 'rte': label 'c' at row 1 is not one of ['a', 'b']"),
        (lambda: (pair_spec(task_type="regression", label_names=None, metric="stsb"), pairs(label=[1.0, float("nan"), 2.0])), "Task 'rte': label nan at row 1 is not a finite number"),
        (lambda: (pair_spec(), pairs().select([])), "Task 'rte': the split is empty."),
        (lambda: (pair_spec(), pairs(task_name=["x", "y", "z"])), "Task 'rte': the dataset has column(s) ['task_name'], which mt-dnn reserves"),
        (lambda: (pair_spec(), pairs().cast_column("label", datasets.ClassLabel(names=["yes", "no"]))), "Task 'rte': the dataset's label names ['yes', 'no'] differ from the task's label_names"),
        (lambda: (pair_spec(), pairs(sentence2=["A cat.", None, "Sun."])), "Task 'rte': column 'sentence2' holds None at row 1, but every text must be a non-empty string; clean the data or drop those rows (dataset.filter) first."),
        (lambda: (pair_spec(), pairs(sentence1=["A cat sat.", "Dogs.", "  "])), "Task 'rte': column 'sentence1' holds '  ' at row 2, but every text must be a non-empty string"),
        (lambda: (pair_spec(task_type="regression", label_names=None, metric="stsb"), pairs(label=["1.0", "high", "2"])), "Task 'rte' (regression): label '1.0' at row 0 is not a number; regression labels must be real values"),
        (lambda: (pair_spec(), pairs(label=[0.0, 1.0, 0.0])), "Task 'rte': label 0.0 at row 0 is a float, but class labels must be integer ids 0..1 or label names ['entailment', 'not_entailment']; cast the label column to int first"),
        (lambda: (pair_spec(max_seq_length=8), pairs()), None),
    ],
)  # fmt: skip
def test_bad_input_fails_before_training_with_a_clear_message(tokenizer, make, message):
    spec, data = make()
    if message is None:  # the control case: the same call on good data works
        assert len(prepare_split(spec, data, tokenizer)) == 3
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_split(spec, data, tokenizer)


@pytest.mark.parametrize(
    "spec, length, message",
    [
        (lambda: pair_spec(), 4, "Task 'rte': max_seq_length 4 is too short; a pair needs at least 5 tokens (3 special tokens and one per text). Raise --max_seq_length (128 is the paper's)."),
        (lambda: pair_spec(), 0, "Task 'rte': max_seq_length 0 is too short"),
        (lambda: pair_spec(text_columns=["sentence1"]), 2, "Task 'rte': max_seq_length 2 is too short; a text needs at least 3 tokens (2 special tokens and one per text)."),
        (lambda: pair_spec(), 4096, "Task 'rte': max_seq_length 4096 is longer than the 512 tokens the encoder's tokenizer allows (its position embeddings end there); lower --max_seq_length."),
        (lambda: pair_spec(max_seq_length=1024), 128, "lower the task's 'max_seq_length'."),
    ],
)  # fmt: skip
def test_max_seq_length_must_fit_the_texts_and_the_encoder(tokenizer, spec, length, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_split(spec(), pairs(), tokenizer, max_seq_length=length)
    assert len(prepare_split(pair_spec(), pairs(), tokenizer, max_seq_length=5)) == 3  # the shortest that fits


def test_unreadable_or_missing_csv_files_are_named(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    spec = pair_spec(dataset="csv", data_files={"train": [str(tmp_path / "empty.csv")]})
    with pytest.raises(ValueError, match=re.escape(f"Task 'rte': the csv file(s) {{'train': ['{tmp_path / 'empty.csv'}']}} cannot be read")) as error:  # fmt: skip
        load_raw_split(spec, "train", cache_dir=str(tmp_path / "cache"))
    assert "check that each holds a header and rows." in str(error.value)
    (tmp_path / "header.csv").write_text("sentence1,sentence2,label\n")
    spec = pair_spec(dataset="csv", data_files={"train": [str(tmp_path / "header.csv")]})
    with pytest.raises(ValueError, match=re.escape(f"Task 'rte': the csv file(s) {{'train': ['{tmp_path / 'header.csv'}']}} cannot be read (ValueError: ")):  # fmt: skip
        load_raw_split(spec, "train", cache_dir=str(tmp_path / "cache"))
    spec = pair_spec(dataset="csv", data_files={"train": [str(tmp_path / "missing.csv")]})
    with pytest.raises(ValueError, match=re.escape(f"Task 'rte': data file '{tmp_path / 'missing.csv'}' of split 'train' does not exist; fix the task's 'data_files'")):  # fmt: skip
        load_raw_split(spec, "train", cache_dir=str(tmp_path / "cache"))


def test_file_tasks_have_the_splits_their_files_name():
    spec = pair_spec(dataset="csv", data_files={"train": ["a.csv"], "validation": ["b.csv"]})
    assert spec.splits == {"train": "train", "validation": "validation"} and spec.test_splits() == {}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: load_task_specs(["rte", "nope"]), "Unknown task(s) ['nope']; the known tasks are ['cola', 'conll2003', 'mnli', "),
        (lambda: load_task_specs([]), "No task was named"),
        (lambda: load_task_specs(["rte"], ["missing.yaml"]), "Task file 'missing.yaml' does not exist."),
        (lambda: pair_spec(text_columns=["a", "b", "c"]), "Task 'rte': field 'text_columns' must be a list of one or two column names"),
        (lambda: pair_spec(task_type="ranking", positive_label="yes"), "Task 'rte': field 'positive_label' must be one of label_names"),
        (lambda: pair_spec(label_names=None), "Task 'rte': field 'label_names' must be a list of class names"),
        (lambda: pair_spec(label_names=[True, False]), "Task 'rte': field 'label_names' must be a list of distinct non-empty strings (in YAML, quote names such as 'yes', 'no', 'true' or '1', which would otherwise read as booleans or numbers), got [True, False]."),
        (lambda: pair_spec(metric="f2"), "Task 'rte': field 'metric' must be one of ['accuracy', 'accuracy_f1', 'cola', "),
        (lambda: pair_spec(task_type="regression", label_names=None), "Task 'rte': field 'metric' must be a metric for task_type 'regression', one of ['pearson_spearman', 'stsb'], got 'rte'."),
        (lambda: pair_spec(metric="stsb"), "Task 'rte': field 'metric' must be a metric for task_type 'classification', one of ['accuracy', 'accuracy_f1', "),
        (lambda: pair_spec(drop_labels=-1), "Task 'rte': field 'drop_labels' must be a list of label values (SNLI: [-1]), got -1."),
        (lambda: pair_spec(submission_file="/tmp/RTE.tsv"), "Task 'rte': field 'submission_file' must be a file name inside the output folder (relative, without '..'), got '/tmp/RTE.tsv'."),
        (lambda: pair_spec(submission_file="../../RTE.tsv"), "Task 'rte': field 'submission_file' must be a file name inside the output folder"),
        (lambda: pair_spec(extra_submission_files={"mm": "sub/../../x.tsv"}), "Task 'rte': field 'extra_submission_files.mm' must be a file name inside the output folder"),
        (lambda: pair_spec(extra_eval_splits={"m m": "validation"}), "Task name 'rte_m m' is not valid"),
        (lambda: pair_spec(name="../rte"), "Task name '../rte' is not valid"),
        (lambda: pair_spec(name="train"), "Task name 'train' is not valid: it is an attribute of torch's nn.ModuleDict"),
    ],
)  # fmt: skip
def test_bad_task_definitions(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_unknown_field_in_a_task_file(tmp_path):
    (tmp_path / "t.yaml").write_text("dataset: csv\ntasks:\n  x:\n    text_columns: [a]\n    labelz: 1\n")
    with pytest.raises(ValueError, match=re.escape("Task 'x' in ")) as error:
        load_task_specs(["x"], [tmp_path / "t.yaml"])
    assert "unknown field(s) ['labelz']" in str(error.value)


def test_task_file_that_is_not_yaml_is_named(tmp_path):
    (tmp_path / "t.yaml").write_text("dataset: csv\ntasks:\n  x: [unclosed\n")
    with pytest.raises(ValueError, match=re.escape(f"Task file '{tmp_path / 't.yaml'}' is not valid YAML:")):
        load_task_specs(["x"], [tmp_path / "t.yaml"])
    (tmp_path / "t.yaml").write_text("dataset: csv\ntasks:\n  x: 3\n")
    with pytest.raises(ValueError, match=re.escape(f"Task 'x' in {tmp_path / 't.yaml'}: expected a mapping of fields, got 3.")):  # fmt: skip
        load_task_specs(["x"], [tmp_path / "t.yaml"])


def test_san_settings_in_a_task_file_reach_the_model_spec():
    spec = pair_spec(head="san", san_steps=1, san_step_dropout=0.0, dropout=0.1)
    config = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"rte": spec.model_spec()})
    assert (config.tasks["rte"]["san_steps"], config.tasks["rte"]["san_step_dropout"]) == (1, 0.0)
    assert "san_steps" not in pair_spec(head="san").model_spec()  # the config's defaults (5 steps, 0.1)
    with pytest.raises(ValueError, match=re.escape("Task 'rte': field 'san_steps' must be left out unless head is 'san', got 2.")):  # fmt: skip
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"rte": pair_spec(san_steps=2).model_spec()})


def test_two_local_copies_of_one_name_never_share_a_cache(tmp_path):
    """datasets names a local folder's cache by the folder's name and configs: ours keys it by the files too."""
    rows = {"question": ["q?"], "label": [0]}
    first = write_local_copy(tmp_path / "a" / "glue", {"qnli": {"validation": datasets.Dataset.from_dict(rows | {"sentence": ["A"]})}})  # fmt: skip
    second = write_local_copy(tmp_path / "b" / "glue", {"qnli": {"validation": datasets.Dataset.from_dict(rows | {"sentence": ["B"]})}})  # fmt: skip
    spec = qnli_spec()
    assert list(load_raw_split(spec, "validation", first)["sentence"]) == ["A"]
    assert list(load_raw_split(spec, "validation", second)["sentence"]) == ["B"]
    # a copy whose files change is read anew
    write_local_copy(first, {"qnli": {"validation": datasets.Dataset.from_dict(rows | {"sentence": ["C"]})}})
    assert list(load_raw_split(spec, "validation", first)["sentence"]) == ["C"]

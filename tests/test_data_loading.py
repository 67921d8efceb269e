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
import re

import datasets
import pytest

from mtdnn.training.data_loading import load_raw_split
from mtdnn.training.task_files import load_task_specs

from .conftest import local_copy_splits, shared_glue_dir, write_local_copy
from .test_task_files import ALL_TASKS, BENCHMARK_TASKS, pair_spec, pairs, qnli_spec


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

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

import math
import re

import datasets
import pytest
from transformers import AutoTokenizer

from mtdnn.training.data_loading import load_raw_split
from mtdnn.training.preparation import prepare_split
from mtdnn.training.task_files import load_task_specs

from .conftest import minilm_folder
from .test_task_files import pair_spec, pairs, qnli_spec


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


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

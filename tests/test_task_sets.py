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
from transformers import AutoTokenizer

from mtdnn.training.data_loading import load_raw_split
from mtdnn.training.preparation import prepare_split
from mtdnn.training.task_files import load_task_specs
from mtdnn.training.task_sets import TaskSets, build_task_sets
from mtdnn.training.trainer import EvalSpec

from .conftest import minilm_folder, write_local_copy
from .test_task_files import pairs


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def nli(rows: int, **columns) -> datasets.Dataset:
    data = {
        "premise": [f"A man plays the guitar number {i}." for i in range(rows)],
        "hypothesis": [f"Someone plays music {i}." for i in range(rows)],
        "label": [i % 3 for i in range(rows)],
    }
    return datasets.Dataset.from_dict(data | columns)


@pytest.fixture
def glue_copy(tmp_path):
    """A local GLUE copy: RTE (train, validation, test; with idx), QNLI and MNLI (every split; no idx)."""
    qnli = datasets.Dataset.from_dict(
        {
            "question": ["q1?", "q1?", "q2?", "q2?", "q3?"],
            "sentence": ["It is a.", "It is b.", "It is c.", "It is d.", "It is e."],
            "label": [0, 1, 1, 0, 0],
        }
    )
    # the splits of one config share their columns
    labelled, unlabelled = pairs(idx=[0, 1, 2]), pairs(label=[-1, -1, -1], idx=[7, 8, 9])
    mnli_test = nli(4, label=[-1] * 4)
    return write_local_copy(
        tmp_path / "glue",
        {
            "rte": {"train": labelled, "validation": labelled, "test": unlabelled},
            "qnli": {"train": qnli, "validation": qnli, "test": qnli.map(lambda row: {"label": -1})},
            "mnli": {
                "train": nli(12),
                "validation_matched": nli(4),
                "validation_mismatched": nli(5),
                "test_matched": mnli_test,
                "test_mismatched": mnli_test,
            },
        },
    )


def test_build_task_sets_builds_every_stage_of_every_task(tokenizer, glue_copy, tmp_path):
    specs = load_task_specs(["rte", "qnli", "mnli"])
    settings = {"data_dir": glue_copy, "cache_dir": str(tmp_path / "cache"), "max_seq_length": 32}
    sets = build_task_sets(specs, tokenizer, train=True, evaluate=True, predict=True, seed=3, **settings)

    assert list(sets.train_sets) == ["rte", "qnli", "mnli"]
    # the same rows prepare_split gives for the train split (ranking grouped by query, as the ranking loss reads them)
    for name, spec in specs.items():
        raw = load_raw_split(spec, "train", glue_copy, str(tmp_path / "cache"), role="train")
        alone = prepare_split(spec, raw, tokenizer, 32, group_candidates=True, seed=3, split="train")
        assert sets.train_sets[name]["input_ids"] == alone["input_ids"], name
    assert sets.train_sets["qnli"]["labels"] == [0, 0] and sets.train_sets["qnli"]["group_id"] == [0, 1]

    assert list(sets.eval_sets) == ["rte", "qnli", "mnli", "mnli_mm"]
    assert len(sets.eval_sets["mnli"]) == 4 and len(sets.eval_sets["mnli_mm"]) == 5
    assert sets.eval_sets["qnli"]["pair_labels"] == [0, 1, 1, 0, 0]  # pairs with their group, for ranking them
    assert sets.eval_specs == {
        "rte": EvalSpec(task_name="rte", metric="rte"),
        "qnli": EvalSpec(task_name="qnli", metric="qnli", positive_label=0),
        "mnli": EvalSpec(task_name="mnli", metric="mnli"),
        "mnli_mm": EvalSpec(task_name="mnli", metric="mnli_mm"),
    }

    assert list(sets.test_sets) == ["rte", "qnli", "mnli", "mnli_mm"]
    assert "pair_labels" not in sets.test_sets["qnli"][1].column_names and sets.test_sets["qnli"][2] == [0, 1, 2, 3, 4]
    spec, prepared, indices = sets.test_sets["rte"]
    assert spec is specs["rte"] and indices == [7, 8, 9] and "labels" not in prepared.column_names
    assert sets.test_sets["mnli_mm"][2] == [0, 1, 2, 3]  # no id column: the row indices


def test_build_task_sets_builds_only_the_asked_stages_and_trims_them(tokenizer, glue_copy):
    specs = load_task_specs(["rte", "mnli"])
    assert build_task_sets(specs, tokenizer, data_dir=glue_copy) == TaskSets()
    sets = build_task_sets(
        specs,
        tokenizer,
        train=True,
        evaluate=True,
        data_dir=glue_copy,
        max_train_samples=2,
        max_eval_samples=3,
        train_fraction=1.0,
        seed=5,
    )
    assert (len(sets.train_sets["rte"]), len(sets.train_sets["mnli"])) == (2, 2)
    assert {key: len(rows) for key, rows in sets.eval_sets.items()} == {"rte": 3, "mnli": 3, "mnli_mm": 3}
    assert sets.test_sets == {}
    # train_fraction 1.0 shuffles with the seed first: a seeded sample, not the first rows
    seeded = [build_task_sets(specs, tokenizer, train=True, data_dir=glue_copy, max_train_samples=2, train_fraction=1.0, seed=seed).train_sets["mnli"]["input_ids"] for seed in (5, 6)]  # fmt: skip
    assert seeded[0] == sets.train_sets["mnli"]["input_ids"] != seeded[1]


def test_build_task_sets_refuses_a_stage_whose_split_the_task_lacks(tokenizer, glue_copy):
    specs = load_task_specs(["rte", "qnli"])
    without_train = {"rte": dataclasses.replace(specs["rte"], splits={"validation": "validation"})}
    with pytest.raises(ValueError, match=re.escape("Task 'rte' has no train split in its task file; drop it from --tasks.")):  # fmt: skip
        build_task_sets(without_train, tokenizer, train=True, data_dir=glue_copy)
    without_test = {"qnli": dataclasses.replace(specs["qnli"], splits={"train": "train", "validation": "validation"})}
    with pytest.raises(ValueError, match=re.escape("Task 'qnli' has no test split in its task file; drop --do_predict or it.")):  # fmt: skip
        build_task_sets(without_test, tokenizer, predict=True, data_dir=glue_copy)
    missing_test = {"rte": dataclasses.replace(specs["rte"], splits=specs["rte"].splits | {"test": "test_x"})}
    with pytest.raises(ValueError, match=re.escape("Task 'rte': split 'test_x' (the task's test split) not found in")):
        build_task_sets(missing_test, tokenizer, predict=True, data_dir=glue_copy)

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
from pathlib import Path

import datasets
import pytest

from modeling_mtdnn import MTDNNConfig, normalize_task_spec
from mtdnn.training.task_files import BUILTIN_TASK_FILES, MODEL_FIELDS, TaskDataSpec, load_task_specs

from .conftest import tiny_bert_config

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


def qnli_spec() -> TaskDataSpec:
    return load_task_specs(["qnli"])["qnli"]


def test_every_builtin_task_is_defined_and_builds_a_model_config():
    assert {path.name for path in BUILTIN_TASK_FILES} == {
        "glue.yaml",
        "snli.yaml",
        "scitail.yaml",
        "conll2003.yaml",
        "conll2003_multi.yaml",
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
    completed = pair_spec(head="san").model_spec()  # the config's defaults (5 steps, 0.1)
    assert (completed["san_steps"], completed["san_step_dropout"]) == (5, 0.1)
    with pytest.raises(ValueError, match=re.escape("Task 'rte': field 'san_steps' must be left out unless head is 'san', got 2.")):  # fmt: skip
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"rte": pair_spec(san_steps=2).model_spec()})


def test_every_head_field_of_the_config_can_be_set_in_a_task_file():
    assert set(MODEL_FIELDS) == {"head", "dropout", "loss_weight", "san_steps", "san_step_dropout", "ranking_gamma", "tag_scheme"}  # fmt: skip
    assert set(MODEL_FIELDS) <= {field.name for field in dataclasses.fields(TaskDataSpec)}


def write_task_file(folder: Path, task_type: str, extra: str) -> Path:
    """A task file with one csv task, `answers` (ranking) or `reviews` (classification), plus the `extra` fields."""
    fields = {
        "ranking": "text_columns: [question, sentence]\n    label_names: [entailment, not_entailment]\n"
        "    positive_label: entailment\n    metric: qnli\n",
        "classification": "text_columns: [text]\n    label_names: [neg, pos]\n    metric: accuracy\n",
    }[task_type]
    name = "answers" if task_type == "ranking" else "reviews"
    path = folder / "tasks.yaml"
    path.write_text(
        f"dataset: csv\ntasks:\n  {name}:\n    data_files: {{train: train.csv}}\n    task_type: {task_type}\n"
        f"    {fields}    {extra}\n"
    )
    return path


def test_ranking_gamma_in_a_task_file_reaches_the_model_config(tmp_path):
    spec = load_task_specs(["answers"], [write_task_file(tmp_path, "ranking", "ranking_gamma: 2.0")])["answers"]
    assert spec.ranking_gamma == 2.0 and spec.model_spec()["ranking_gamma"] == 2.0
    config = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"answers": spec.model_spec()})
    assert config.tasks["answers"]["ranking_gamma"] == 2.0 and config.tasks["answers"]["inputs"] == "pair"
    assert MTDNNConfig.from_dict(config.to_dict()).tasks["answers"]["ranking_gamma"] == 2.0


@pytest.mark.parametrize(
    ("task_type", "extra", "spec"),
    [
        ("classification", "dropout: 1.5", {"dropout": 1.5}),
        ("classification", "loss_weight: 0", {"loss_weight": 0}),
        ("classification", "head: mlp", {"head": "mlp"}),
        ("classification", "san_steps: 3", {"san_steps": 3}),
        ("classification", "ranking_gamma: 2.0", {"ranking_gamma": 2.0}),
        ("ranking", "ranking_gamma: -1.0", {"ranking_gamma": -1.0}),
        ("ranking", "head: san", {"head": "san"}),
    ],
)
def test_a_bad_head_field_in_a_task_file_fails_with_the_config_message(tmp_path, task_type, extra, spec):
    name, given = ("answers", {"inputs": "pair"}) if task_type == "ranking" else ("reviews", {"num_labels": 2})
    with pytest.raises(ValueError) as from_config:
        normalize_task_spec(name, {"task_type": task_type, **given, **spec})
    assert f"Task '{name}': field '{next(iter(spec))}' must be " in str(from_config.value)
    with pytest.raises(ValueError, match=re.escape(str(from_config.value))):
        load_task_specs([name], [write_task_file(tmp_path, task_type, extra)])

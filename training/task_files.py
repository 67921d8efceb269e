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
"""Task definitions as data: the YAML task files, read into one checked `TaskDataSpec` per task."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from modeling_mtdnn import TASK_SPEC_FIELDS, TASK_TYPES, TaskType, check_task_name, get_task_type, normalize_task_spec

from .metrics import METRIC_NAMES, REGRESSION_METRICS

__all__ = [
    "BUILTIN_TASK_FILES",
    "FILE_BUILDERS",
    "GROUP_FIELDS",
    "HEAD_FIELDS",
    "MODEL_FIELDS",
    "RESERVED_COLUMNS",
    "SPLITS",
    "TASKS_DIR",
    "TaskDataSpec",
    "load_task_specs",
]

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
BUILTIN_TASK_FILES = tuple(sorted(TASKS_DIR.glob("*.yaml")))
# Columns this package adds to every prepared split; a dataset that already has one of them is refused.
RESERVED_COLUMNS = ("task_name", "group_id")
FILE_BUILDERS = ("csv", "json", "parquet", "text")
SPLITS = ("train", "validation", "test")
# The fields of the model's task spec that a task file sets as they are; the data side derives the others
# (`task_type` is its own field, `num_labels` and `id2label` come from `label_names`, `inputs` from `text_columns`).
_DERIVED_FIELDS = ("task_type", "num_labels", "id2label", "inputs")
MODEL_FIELDS = tuple(field for field in TASK_SPEC_FIELDS if field not in _DERIVED_FIELDS)
# A task group (`groups:` in a task file): the fields its heads share (one dataset, one input), and each head's own.
GROUP_FIELDS = ("dataset", "config", "data_files", "splits", "text_columns", "max_seq_length", "heads")
HEAD_FIELDS = (
    "label_column",
    "task_type",
    "label_names",
    "metric",
    "drop_labels",
    "adv_weight",
    "submission_file",
    "submission_labels",
    *MODEL_FIELDS,
)
# The inputs a head of a task group may read: one text or a pair, or a list of words (ranking and span extraction
# prepare rows of their own: a query's candidates, windows of a context).
GROUPABLE_INPUT_KINDS = ("sentences", "tokens")


def _groupable(kind: TaskType) -> bool:
    return kind.input_kind in GROUPABLE_INPUT_KINDS and not kind.groups_candidates


@dataclasses.dataclass
class TaskDataSpec:
    r"""
    One task as a YAML entry describes it: where its data lives, which columns to read, and its head.

    Args:
        name (`str`):
            The task's name (its key in the YAML file; becomes `heads.<name>` in the model).
        dataset (`str`):
            A Hub dataset id (`nyu-mll/glue`), a local folder in a Hub dataset's layout, or a file builder
            (`csv`, `json`, `parquet`) together with `data_files`.
        config (`str`, *optional*):
            The dataset configuration (`rte`).
        data_files (`dict[str, str | list[str]]`, *optional*):
            Split name to file(s), for the file builders; relative paths are read from the YAML file's folder.
        splits (`dict[str, str]`, *optional*, defaults to the identity on `train`, `validation`, `test`):
            Which dataset split serves as train, validation and test. A split may be sliced with the `datasets`
            syntax (`validation[:50%]`, `train[1000:]`); train and validation may name the same split only with
            `group_split`.
        group_split (`dict`, *optional*):
            Splits one dataset split into train and validation rows by whole groups, for a dataset whose only
            labelled split must serve both (QNLI's validation set, locally): `{column: question,
            validation_fraction: 0.5, seed: 0}` puts a seeded random `validation_fraction` of the distinct values of
            `column` (with all their rows) on the validation side and the rest on the train side, so one
            question's candidates never straddle the two. `splits` must map train and validation to the same split.
        extra_eval_splits (`dict[str, str]`, *optional*):
            More validation splits, reported as `eval_<name>_<key>_<metric>` (MNLI mismatched: `{"mm": ...}`).
        extra_test_splits (`dict[str, str]`, *optional*):
            More test splits for `--do_predict`, keyed like `extra_eval_splits`.
        text_columns (`list[str]`):
            One column (single sentence) or two (a pair); for token classification one column of word lists
            (CoNLL-2003: `[tokens]`).
        label_column (`str`, *optional*, defaults to `"label"`):
            The label column: class ids, label names, or floats for regression; for token classification a list of
            tag ids or tag names per row, one per word (CoNLL-2003: `ner_tags`).
        task_type (`str`):
            `classification`, `regression`, `ranking`, `token_classification` or `span_extraction`, as in
            `MTDNNConfig`. Token classification labels a word's first sub-token and ignores the others (-100), as
            transformers' token-classification examples do by default, and scores whole entities with seqeval
            (`metric: seqeval`).
        label_names (`list[str]`, *optional*):
            Class names in id order (classification, token classification and ranking).
        positive_label (`str`, *optional*):
            For ranking: the label name of a relevant candidate (QNLI: `entailment`).
        drop_labels (`list`, *optional*):
            Label values whose examples are dropped (SNLI's -1: no gold label).
        metric (`str`):
            The config of `training/metric_modules/mtdnn_glue.py` to score it with (`rte`, `accuracy`, ...).
        max_seq_length (`int`, *optional*):
            Overrides the run's `--max_seq_length` for this task.
        head, dropout, loss_weight, san_steps, san_step_dropout, ranking_gamma (*optional*):
            The head's fields of `MTDNNConfig`'s task spec, passed to it as they are: `head` (`linear` or `san`),
            `dropout` (of the task's head; for a SAN head on the token memory it reads), `loss_weight` (factor on the
            task's loss), `san_steps` and `san_step_dropout` (`head: san` only), `ranking_gamma` (the ranking loss's
            softmax scale, ranking only). Left out, they take the config's defaults (`linear`, 0.1, 1.0, 5, 0.1,
            1.0); the config's validator checks them when the spec is built (see [`MTDNNConfig`]).
        doc_stride (`int`, *optional*):
            Span extraction: the tokens that consecutive windows of a context longer than `max_seq_length` share
            (default: a quarter of `max_seq_length`), as transformers' question-answering examples split contexts.
        max_answer_length (`int`, *optional*, defaults to 30):
            Span extraction: the longest answer, in tokens, that the n-best search returns.
        n_best_size (`int`, *optional*, defaults to 20):
            Span extraction: the best start and end positions per window that the search combines.
        adv_weight (`float`, *optional*):
            The weight of SMART's adversarial regularizer for this task under `--adv_train` (0 turns it off for
            the task); `--adv_weight` when left out.
        submission_file (`str`, *optional*):
            The GLUE submission file name of the test predictions (`RTE.tsv`).
        extra_submission_files (`dict[str, str]`, *optional*):
            Submission file names of `extra_test_splits`.
        submission_labels (`str`, *optional*, defaults to `"ids"`):
            How classes are written in the submission file: `ids` (CoLA, SST-2, MRPC, QQP, WNLI) or `names`
            (MNLI, QNLI, RTE), as the GLUE server expects. Regression scores are written as numbers.
        tag_scheme (`str`, *optional*):
            Token classification: `entities` (the default: IOB2 / IOB1 / IOBES tags, scored with seqeval) or `tags`
            (any tag names, such as part of speech; `metric: token_accuracy`).
        group (`str`, *optional*):
            The task group the task is a head of (a task file's `groups:`): the heads of a group share its dataset,
            splits and text columns, and train on one encoder pass per batch (see `mtdnn.training.task_groups`).
            Classification, regression and token classification tasks can be heads.
    """

    name: str
    dataset: str
    text_columns: list[str]
    task_type: str
    metric: str
    config: str | None = None
    data_files: dict[str, Any] | None = None
    splits: dict[str, str] = dataclasses.field(default_factory=lambda: {s: s for s in SPLITS})
    group_split: dict[str, Any] | None = None
    extra_eval_splits: dict[str, str] = dataclasses.field(default_factory=dict)
    extra_test_splits: dict[str, str] = dataclasses.field(default_factory=dict)
    label_column: str = "label"
    label_names: list[str] | None = None
    positive_label: str | None = None
    drop_labels: list[Any] = dataclasses.field(default_factory=list)
    max_seq_length: int | None = None
    head: str | None = None
    dropout: float | None = None
    loss_weight: float | None = None
    san_steps: int | None = None
    san_step_dropout: float | None = None
    ranking_gamma: float | None = None
    doc_stride: int | None = None
    max_answer_length: int = 30
    n_best_size: int = 20
    adv_weight: float | None = None
    submission_file: str | None = None
    extra_submission_files: dict[str, str] = dataclasses.field(default_factory=dict)
    submission_labels: str = "ids"
    tag_scheme: str | None = None
    group: str | None = None

    def __post_init__(self):
        def fail(field: str, value: Any, allowed: str) -> ValueError:
            return ValueError(f"Task '{self.name}': field '{field}' must be {allowed}, got {value!r}.")

        check_task_name(self.name)
        if not isinstance(self.text_columns, list) or len(self.text_columns) not in (1, 2):
            raise fail("text_columns", self.text_columns, "a list of one or two column names")
        if self.task_type not in TASK_TYPES:
            raise fail("task_type", self.task_type, f"one of {list(TASK_TYPES)}")
        kind = self.kind
        if kind.input_kind == "spans":
            if len(self.text_columns) != 2:
                raise fail("text_columns", self.text_columns, f"two columns (question, context) for {kind.name}")
            for field in ("max_answer_length", "n_best_size"):
                value = getattr(self, field)
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise fail(field, value, "an integer >= 1")
            stride = self.doc_stride
            if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or stride < 1):
                raise fail("doc_stride", stride, "an integer >= 1 (tokens shared by consecutive windows)")
        if kind.input_kind == "tokens":
            if len(self.text_columns) != 1:
                raise fail("text_columns", self.text_columns, f"one column of word lists for {kind.name}")
            if self.head not in (None, "linear"):
                raise fail("head", self.head, f"'linear' for {kind.name} (one linear layer per token)")
        if self.label_kind in ("classes", "tokens") and not self.label_names:
            raise fail("label_names", self.label_names, f"a list of class names for task_type '{self.task_type}'")
        if self.label_names is not None and (
            not isinstance(self.label_names, list)
            or not all(isinstance(name, str) and name for name in self.label_names)
            or len(set(self.label_names)) != len(self.label_names)
        ):
            raise fail(
                "label_names",
                self.label_names,
                "a list of distinct non-empty strings (in YAML, quote names such as 'yes', 'no', 'true' or '1', "
                "which would otherwise read as booleans or numbers)",
            )
        if kind.groups_candidates:
            if len(self.text_columns) != 2:
                raise fail("text_columns", self.text_columns, f"two columns (query, candidate) for {kind.name}")
            if self.positive_label not in (self.label_names or []):
                raise fail("positive_label", self.positive_label, f"one of label_names {self.label_names}")
        if self.dataset in FILE_BUILDERS and not self.data_files:
            raise fail("data_files", self.data_files, f"a split -> file(s) mapping for dataset '{self.dataset}'")
        if self.dataset in FILE_BUILDERS and self.splits == {s: s for s in SPLITS}:
            # Files name their splits: a task without a test file has no test split.
            self.splits = {s: s for s in SPLITS if s in self.data_files}
        unknown_splits = sorted(set(self.splits) - set(SPLITS))
        if unknown_splits:
            raise fail("splits", self.splits, f"a mapping with keys among {list(SPLITS)}")
        self._check_group_split(fail)
        if self.submission_labels not in ("ids", "names"):
            raise fail("submission_labels", self.submission_labels, "'ids' or 'names'")
        if self.max_seq_length is not None and (not isinstance(self.max_seq_length, int) or self.max_seq_length < 8):
            raise fail("max_seq_length", self.max_seq_length, "an integer >= 8")
        if self.metric not in METRIC_NAMES:
            raise fail("metric", self.metric, f"one of {sorted(METRIC_NAMES)}")
        kinds = {name: "regression" if name in REGRESSION_METRICS else "classes" for name in METRIC_NAMES}
        kinds |= {"seqeval": "tokens", "squad": "spans"}
        kinds |= {"token_accuracy": "tokens"}
        if kinds[self.metric] != self.label_kind:
            fitting = sorted(name for name, metric_kind in kinds.items() if metric_kind == self.label_kind)
            raise fail("metric", self.metric, f"a metric for task_type '{self.task_type}', one of {fitting}")
        if self.metric == "seqeval" and self.tag_scheme == "tags":
            raise fail(
                "metric",
                self.metric,
                "'token_accuracy' for tag_scheme 'tags' (seqeval scores entities, which such tags do not name)",
            )
        if self.group is not None:
            check_task_name(self.group)
            if kind.input_kind not in GROUPABLE_INPUT_KINDS or kind.groups_candidates:
                groupable = [name for name in TASK_TYPES if _groupable(get_task_type(name))]
                raise fail(
                    "task_type",
                    self.task_type,
                    f"one of {groupable} for a head of task group '{self.group}' (ranking groups a query's "
                    "candidates and span extraction reads windows of a context: train them as tasks of their own)",
                )
        weight = self.adv_weight
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf")
        ):
            raise fail("adv_weight", weight, "a finite number >= 0 (0 turns SMART's regularizer off for the task)")
        if not isinstance(self.drop_labels, list):
            raise fail("drop_labels", self.drop_labels, "a list of label values (SNLI: [-1])")
        for key in (*self.extra_eval_splits, *self.extra_test_splits):
            check_task_name(f"{self.name}_{key}")  # evaluation keys become metric names and file names
        for field, value in [
            ("submission_file", self.submission_file),
            *((f"extra_submission_files.{key}", name) for key, name in self.extra_submission_files.items()),
        ]:
            if value is None:
                continue
            path = Path(value) if isinstance(value, str) else None
            if path is None or not value or path.is_absolute() or ".." in path.parts or value.startswith("~"):
                raise fail(field, value, "a file name inside the output folder (relative, without '..')")
        self.model_spec()  # the head's fields are the config's: its validator checks them now, when the file is read

    def _check_group_split(self, fail) -> None:
        same = "train" in self.splits and self.splits["train"] == self.splits.get("validation")
        if self.group_split is None:
            if same:
                raise fail(
                    "splits",
                    self.splits,
                    "different splits for train and validation (a model scored on its training rows tells nothing); "
                    "to serve both from one split, add group_split: {column: <a text column>, validation_fraction: "
                    "0.5}, which holds out whole groups of rows",
                )
            return
        if not isinstance(self.group_split, dict) or set(self.group_split) - {"column", "validation_fraction", "seed"}:
            raise fail("group_split", self.group_split, "a mapping with keys column, validation_fraction and seed")
        column = self.group_split.get("column")
        fraction = self.group_split.get("validation_fraction")
        seed = self.group_split.setdefault("seed", 0)
        if not isinstance(column, str) or not column:
            raise fail("group_split.column", column, "the name of the column whose values group the rows")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise fail("group_split.validation_fraction", fraction, "a number between 0 and 1 (exclusive)")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise fail("group_split.seed", seed, "an integer")
        if not same:
            raise fail(
                "splits",
                self.splits,
                "train and validation on the same dataset split when group_split is given (it divides that split)",
            )

    @property
    def kind(self) -> TaskType:
        """The task type (`modeling_mtdnn.get_task_type(task_type)`): what the data side asks instead of names."""
        return get_task_type(self.task_type)

    @property
    def label_kind(self) -> str:
        """
        What the labels are (`TaskType.metric_kind`): `classes` (class ids or names; ranking's relevant / irrelevant
        pairs too), `regression` (real values), `tokens` (one tag per word) or `spans` (answers in a context). Metrics
        are chosen by it.
        """
        return self.kind.metric_kind

    @property
    def decode_settings(self) -> dict[str, int]:
        """What the task type's decoding of this task's logits takes (`TaskType.decode`)."""
        return {
            "positive_label": self.positive_label_id,
            "n_best_size": self.n_best_size,
            "max_answer_length": self.max_answer_length,
        }

    @property
    def positive_label_id(self) -> int:
        """The class id of a relevant candidate (ranking); 0 for other task types."""
        return self.label_names.index(self.positive_label) if self.positive_label else 0

    def model_spec(self) -> dict[str, Any]:
        """
        The task spec of `MTDNNConfig` for this task, validated and completed by the config's own validator
        (`normalize_task_spec`) from the task's current fields.
        """
        spec: dict[str, Any] = {
            "task_type": self.task_type,
            "inputs": "pair" if len(self.text_columns) == 2 else "single",
        }
        if self.kind.has_classes:
            spec["id2label"] = dict(enumerate(self.label_names))
        spec |= {field: getattr(self, field) for field in MODEL_FIELDS if getattr(self, field) is not None}
        return normalize_task_spec(self.name, spec)

    def eval_splits(self) -> dict[str, str]:
        """Evaluation key (`rte`, `mnli`, `mnli_mm`) to dataset split."""
        keys = {self.name: self.splits["validation"]} if "validation" in self.splits else {}
        return keys | {f"{self.name}_{key}": split for key, split in self.extra_eval_splits.items()}

    def test_splits(self) -> dict[str, str]:
        """Prediction key (`mnli`, `mnli_mm`) to dataset split."""
        keys = {self.name: self.splits["test"]} if "test" in self.splits else {}
        return keys | {f"{self.name}_{key}": split for key, split in self.extra_test_splits.items()}

    def submission_files(self) -> dict[str, str]:
        """Prediction key to its GLUE submission file name, for the keys that have one."""
        keys = {self.name: self.submission_file} if self.submission_file else {}
        return keys | {f"{self.name}_{key}": name for key, name in self.extra_submission_files.items()}


def _absolute_data_files(entry: dict[str, Any], path: Path) -> None:
    if entry.get("data_files"):
        entry["data_files"] = {
            split: [str(path.parent / f) for f in ([files] if isinstance(files, str) else files)]
            for split, files in entry["data_files"].items()
        }


def _read_task_file(path: Path) -> tuple[dict[str, TaskDataSpec], dict[str, dict[str, TaskDataSpec]]]:
    """The tasks of one file, and its task groups (group name -> its heads, each a `TaskDataSpec`)."""
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"Task file {str(path)!r} is not valid YAML: {error}") from None
    if (
        not isinstance(content, dict)
        or not isinstance(content.get("tasks", {}), dict)
        or not isinstance(content.get("groups", {}), dict)
        or not ({"tasks", "groups"} & set(content))
    ):
        raise ValueError(
            f"Task file {path}: expected a mapping with a 'tasks' mapping and/or a 'groups' mapping (see "
            "training/tasks/glue.yaml and training/tasks/conll2003_multi.yaml)."
        )
    specs = {}
    field_names = {field.name for field in dataclasses.fields(TaskDataSpec)}
    for name, entry in (content.get("tasks") or {}).items():
        if entry is not None and not isinstance(entry, dict):
            raise ValueError(f"Task '{name}' in {path}: expected a mapping of fields, got {entry!r}.")
        entry = {"dataset": content.get("dataset"), **(entry or {})}
        unknown = sorted((set(entry) - field_names) | ({"group"} & set(entry)))
        if unknown:
            raise ValueError(
                f"Task '{name}' in {path}: unknown field(s) {unknown}; "
                f"the fields are {sorted(field_names - {'name', 'group'})} (heads of a task group go under 'groups')."
            )
        missing = [field for field in ("dataset", "text_columns", "task_type", "metric") if not entry.get(field)]
        if missing:
            raise ValueError(f"Task '{name}' in {path}: missing field(s) {missing}.")
        _absolute_data_files(entry, path)
        specs[name] = TaskDataSpec(name=name, **entry)
    groups = {
        group: _read_group(path, group, entry, content.get("dataset"))
        for group, entry in (content.get("groups") or {}).items()
    }
    return specs, groups


def _read_group(path: Path, group: str, entry: Any, dataset: str | None) -> dict[str, TaskDataSpec]:
    """One entry of a task file's `groups:`: its heads as `TaskDataSpec`s sharing the group's data fields."""
    check_task_name(group)
    if not isinstance(entry, dict):
        raise ValueError(f"Task group '{group}' in {path}: expected a mapping of fields, got {entry!r}.")
    entry = {"dataset": dataset, **entry}
    unknown = sorted(set(entry) - set(GROUP_FIELDS))
    if unknown:
        raise ValueError(
            f"Task group '{group}' in {path}: unknown field(s) {unknown}; a group's fields are {list(GROUP_FIELDS)}, "
            f"and each head's own fields ({list(HEAD_FIELDS)}) go under 'heads'."
        )
    missing = [field for field in ("dataset", "text_columns", "heads") if not entry.get(field)]
    if missing:
        raise ValueError(f"Task group '{group}' in {path}: missing field(s) {missing}.")
    heads = entry.pop("heads")
    if not isinstance(heads, dict):
        raise ValueError(
            f"Task group '{group}' in {path}: field 'heads' must be a mapping of task name -> the head's fields, got "
            f"{heads!r}."
        )
    _absolute_data_files(entry, path)
    specs: dict[str, TaskDataSpec] = {}
    readers: dict[str, str] = {}  # label column -> the head that reads it
    for name, fields in heads.items():
        where = f"Task '{name}' (a head of task group '{group}') in {path}"
        if not isinstance(fields, dict):
            raise ValueError(f"{where}: expected a mapping of fields, got {fields!r}.")
        unknown = sorted(set(fields) - set(HEAD_FIELDS))
        if unknown:
            shared = [field for field in unknown if field in GROUP_FIELDS]
            raise ValueError(
                f"{where}: unknown field(s) {unknown}; a head's fields are {list(HEAD_FIELDS)}"
                + (f" ({shared} belong to the group: its heads share one input)." if shared else ".")
            )
        missing = [field for field in ("label_column", "task_type", "metric") if not fields.get(field)]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing}.")
        column = fields["label_column"]
        if column in readers:
            raise ValueError(
                f"Task '{name}': field 'label_column' is {column!r}, which head '{readers[column]}' of task group "
                f"'{group}' reads too ({path}); give each head its own label column."
            )
        readers[column] = name
        specs[name] = TaskDataSpec(name=name, group=group, **entry, **fields)
    return specs


def _claims(
    tasks: dict[str, tuple[TaskDataSpec, Path]], groups: dict[str, tuple[dict[str, TaskDataSpec], Path]]
) -> dict[str, tuple[str, Path]]:
    """Each head -> its group and file, refusing a name two groups claim, or a task or group of a head's name."""
    claims: dict[str, tuple[str, Path]] = {}
    for group, (heads, path) in groups.items():
        if group in tasks:
            raise ValueError(
                f"Task group '{group}' ({path}) has the name of a task ({tasks[group][1]}); rename one of them "
                "(--tasks names both)."
            )
        for head in heads:
            if head in claims:
                other, other_path = claims[head]
                raise ValueError(
                    f"Task '{head}': field 'heads' of task group '{group}' ({path}) claims it, but task group "
                    f"'{other}' ({other_path}) has it already; a task is a head of one group only: rename it in one "
                    "of them."
                )
            if head in tasks:
                raise ValueError(
                    f"Task '{head}': field 'heads' of task group '{group}' ({path}) claims it, but it is a task of "
                    f"its own in {tasks[head][1]}; rename one of them."
                )
            if head in groups:
                raise ValueError(
                    f"Task '{head}': field 'heads' of task group '{group}' ({path}) claims it, but it is the name of "
                    f"task group '{head}' ({groups[head][1]}); rename one of them."
                )
            claims[head] = (group, path)
    return claims


def load_task_specs(
    task_names: Iterable[str], task_files: Iterable[str | os.PathLike] = ()
) -> dict[str, TaskDataSpec]:
    """
    Looks the named tasks up in the built-in task files (`training/tasks/*.yaml`) and in `task_files`; a task in
    `task_files` overrides a built-in task of the same name, and a task group one of the same name. A task group's
    name stands for all its heads (in the order the file gives them); a head named alone trains without its
    group's other heads.

    Raises:
        `ValueError`: for an unknown task name (listing the known ones), a malformed task file, or a name that is
            claimed twice (by two task groups, or by a group and a task).
    """
    known: dict[str, tuple[TaskDataSpec, Path]] = {}
    groups: dict[str, tuple[dict[str, TaskDataSpec], Path]] = {}
    for path in (*BUILTIN_TASK_FILES, *map(Path, task_files)):
        if not path.is_file():
            raise ValueError(f"Task file {str(path)!r} does not exist.")
        specs, file_groups = _read_task_file(path)
        known.update({name: (spec, path) for name, spec in specs.items()})
        groups.update({name: (heads, path) for name, heads in file_groups.items()})
    claims = _claims(known, groups)
    listing = f"the known tasks are {sorted(known)} and the task groups " + str(
        {group: list(heads) for group, (heads, _) in sorted(groups.items())}
    )
    names = list(task_names)
    if not names:
        raise ValueError(f"No task was named; choose among them: {listing}.")
    unknown = [name for name in names if name not in known and name not in groups and name not in claims]
    if unknown:
        raise ValueError(
            f"Unknown task(s) {unknown}; {listing} (a group's name trains all its heads, a head's name that head "
            "alone; add yours with a task file)."
        )
    chosen: dict[str, TaskDataSpec] = {}
    for name in names:
        if name in groups:
            chosen.update((head, spec) for head, spec in groups[name][0].items() if head not in chosen)
        elif name in claims:
            chosen.setdefault(name, groups[claims[name][0]][0][name])
        else:
            chosen.setdefault(name, known[name][0])
    return chosen

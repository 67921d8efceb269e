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
"""Task definitions as data (YAML) and their loading, validation and tokenization with `datasets`."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import yaml
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from modeling_mtdnn import TASK_TYPES, check_task_name

from .metrics import METRIC_NAMES, REGRESSION_METRICS

__all__ = [
    "BUILTIN_TASK_FILES",
    "DATA_DIR_ENV",
    "FILE_BUILDERS",
    "RESERVED_COLUMNS",
    "TaskDataSpec",
    "load_raw_split",
    "load_task_specs",
    "local_dataset_folder",
    "prepare_split",
]

logger = logging.get_logger(__name__)

DATA_DIR_ENV = "MTDNN_DATA_DIR"
TASKS_DIR = Path(__file__).resolve().parent / "tasks"
BUILTIN_TASK_FILES = tuple(sorted(TASKS_DIR.glob("*.yaml")))
# Columns this package adds to every prepared split; a dataset that already has one of them is refused.
RESERVED_COLUMNS = ("task_name", "group_id")
FILE_BUILDERS = ("csv", "json", "parquet", "text")
_SPLITS = ("train", "validation", "test")


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
            `classification`, `regression`, `ranking` or `token_classification`, as in `MTDNNConfig`. Token
            classification labels a word's first sub-token and ignores the others (-100), as transformers'
            token-classification examples do by default, and scores whole entities with seqeval (`metric: seqeval`).
        head (`str`, *optional*, defaults to `"linear"`):
            `linear` or `san`.
        label_names (`list[str]`, *optional*):
            Class names in id order (classification and ranking).
        positive_label (`str`, *optional*):
            For ranking: the label name of a relevant candidate (QNLI: `entailment`).
        drop_labels (`list`, *optional*):
            Label values whose examples are dropped (SNLI's -1: no gold label).
        metric (`str`):
            The config of `training/metric_modules/mtdnn_glue.py` to score it with (`rte`, `accuracy`, ...).
        max_seq_length (`int`, *optional*):
            Overrides the run's `--max_seq_length` for this task.
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout of the task's head (for a SAN head: on the token memory it reads).
        san_steps (`int`, *optional*):
            SAN reasoning steps K (`head: san` only; `MTDNNConfig`'s default, 5, when left out).
        san_step_dropout (`float`, *optional*):
            SAN's stochastic prediction dropout (`head: san` only; 0.1 when left out).
        doc_stride (`int`, *optional*):
            Span extraction: the tokens that consecutive windows of a context longer than `max_seq_length` share
            (default: a quarter of `max_seq_length`), as transformers' question-answering examples split contexts.
        max_answer_length (`int`, *optional*, defaults to 30):
            Span extraction: the longest answer, in tokens, that the n-best search returns.
        n_best_size (`int`, *optional*, defaults to 20):
            Span extraction: the best start and end positions per window that the search combines.
        loss_weight (`float`, *optional*, defaults to 1.0):
            Factor on the task's loss.
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
    """

    name: str
    dataset: str
    text_columns: list[str]
    task_type: str
    metric: str
    config: str | None = None
    data_files: dict[str, Any] | None = None
    splits: dict[str, str] = dataclasses.field(default_factory=lambda: {s: s for s in _SPLITS})
    group_split: dict[str, Any] | None = None
    extra_eval_splits: dict[str, str] = dataclasses.field(default_factory=dict)
    extra_test_splits: dict[str, str] = dataclasses.field(default_factory=dict)
    label_column: str = "label"
    head: str = "linear"
    label_names: list[str] | None = None
    positive_label: str | None = None
    drop_labels: list[Any] = dataclasses.field(default_factory=list)
    max_seq_length: int | None = None
    dropout: float = 0.1
    san_steps: int | None = None
    san_step_dropout: float | None = None
    doc_stride: int | None = None
    max_answer_length: int = 30
    n_best_size: int = 20
    loss_weight: float = 1.0
    adv_weight: float | None = None
    submission_file: str | None = None
    extra_submission_files: dict[str, str] = dataclasses.field(default_factory=dict)
    submission_labels: str = "ids"

    def __post_init__(self):
        def fail(field: str, value: Any, allowed: str) -> ValueError:
            return ValueError(f"Task '{self.name}': field '{field}' must be {allowed}, got {value!r}.")

        check_task_name(self.name)
        if not isinstance(self.text_columns, list) or len(self.text_columns) not in (1, 2):
            raise fail("text_columns", self.text_columns, "a list of one or two column names")
        if self.task_type not in TASK_TYPES:
            raise fail("task_type", self.task_type, f"one of {list(TASK_TYPES)}")
        if self.task_type == "span_extraction":
            if len(self.text_columns) != 2:
                raise fail("text_columns", self.text_columns, "two columns (question, context) for span_extraction")
            if self.head != "linear":
                raise fail("head", self.head, "'linear' for span_extraction (start and end logits per token)")
            for field in ("max_answer_length", "n_best_size"):
                value = getattr(self, field)
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise fail(field, value, "an integer >= 1")
            stride = self.doc_stride
            if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or stride < 1):
                raise fail("doc_stride", stride, "an integer >= 1 (tokens shared by consecutive windows)")
        if self.task_type == "token_classification":
            if len(self.text_columns) != 1:
                raise fail("text_columns", self.text_columns, "one column of word lists for token_classification")
            if self.head != "linear":
                raise fail("head", self.head, "'linear' for token_classification (one linear layer per token)")
        if self.task_type not in ("regression", "span_extraction") and not self.label_names:
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
        if self.task_type == "ranking":
            if len(self.text_columns) != 2:
                raise fail("text_columns", self.text_columns, "two columns (query, candidate) for ranking")
            if self.positive_label not in (self.label_names or []):
                raise fail("positive_label", self.positive_label, f"one of label_names {self.label_names}")
        if self.dataset in FILE_BUILDERS and not self.data_files:
            raise fail("data_files", self.data_files, f"a split -> file(s) mapping for dataset '{self.dataset}'")
        if self.dataset in FILE_BUILDERS and self.splits == {s: s for s in _SPLITS}:
            # Files name their splits: a task without a test file has no test split.
            self.splits = {s: s for s in _SPLITS if s in self.data_files}
        unknown_splits = sorted(set(self.splits) - set(_SPLITS))
        if unknown_splits:
            raise fail("splits", self.splits, f"a mapping with keys among {list(_SPLITS)}")
        self._check_group_split(fail)
        if self.submission_labels not in ("ids", "names"):
            raise fail("submission_labels", self.submission_labels, "'ids' or 'names'")
        if self.max_seq_length is not None and (not isinstance(self.max_seq_length, int) or self.max_seq_length < 8):
            raise fail("max_seq_length", self.max_seq_length, "an integer >= 8")
        if self.metric not in METRIC_NAMES:
            raise fail("metric", self.metric, f"one of {sorted(METRIC_NAMES)}")
        kind = {"regression": "regression", "token_classification": "tokens", "span_extraction": "spans"}.get(
            self.task_type, "classes"
        )
        kinds = {name: "regression" if name in REGRESSION_METRICS else "classes" for name in METRIC_NAMES}
        kinds |= {"seqeval": "tokens", "squad": "spans"}
        if kinds[self.metric] != kind:
            fitting = sorted(name for name, metric_kind in kinds.items() if metric_kind == kind)
            raise fail("metric", self.metric, f"a metric for task_type '{self.task_type}', one of {fitting}")
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

    def select_group_side(self, dataset: datasets.Dataset, role: str) -> datasets.Dataset:
        """The rows of `dataset` on `role`'s side (`train` or `validation`) of `group_split`; `dataset` otherwise."""
        if self.group_split is None or role not in ("train", "validation"):
            return dataset
        column = self.group_split["column"]
        if column not in dataset.column_names:
            raise ValueError(
                f"Task '{self.name}': group_split column {column!r} not found; the dataset has "
                f"{dataset.column_names}. Fix the task's 'group_split'."
            )
        values = dataset[column]
        groups = list(dict.fromkeys(values))
        order = np.random.default_rng(self.group_split["seed"]).permutation(len(groups))
        held_out = max(1, min(len(groups) - 1, round(self.group_split["validation_fraction"] * len(groups))))
        validation = {groups[i] for i in order[:held_out]}
        rows = [row for row, value in enumerate(values) if (value in validation) == (role == "validation")]
        return dataset.select(rows)

    @property
    def positive_label_id(self) -> int:
        """The class id of a relevant candidate (ranking); 0 for other task types."""
        return self.label_names.index(self.positive_label) if self.positive_label else 0

    def model_spec(self) -> dict[str, Any]:
        """The task spec of `MTDNNConfig` for this task."""
        spec: dict[str, Any] = {
            "task_type": self.task_type,
            "head": self.head,
            "inputs": "pair" if len(self.text_columns) == 2 else "single",
            "dropout": self.dropout,
            "loss_weight": self.loss_weight,
        }
        if self.task_type in ("classification", "token_classification"):
            spec["id2label"] = dict(enumerate(self.label_names))
        for field in ("san_steps", "san_step_dropout"):
            if getattr(self, field) is not None:
                spec[field] = getattr(self, field)  # checked by MTDNNConfig (SAN heads only)
        return spec

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


def _read_task_file(path: Path) -> dict[str, TaskDataSpec]:
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"Task file {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(content, dict) or not isinstance(content.get("tasks"), dict):
        raise ValueError(
            f"Task file {path}: expected a mapping with a 'tasks' mapping (see training/tasks/glue.yaml)."
        )
    specs = {}
    field_names = {field.name for field in dataclasses.fields(TaskDataSpec)}
    for name, entry in content["tasks"].items():
        if entry is not None and not isinstance(entry, dict):
            raise ValueError(f"Task '{name}' in {path}: expected a mapping of fields, got {entry!r}.")
        entry = {"dataset": content.get("dataset"), **(entry or {})}
        unknown = sorted(set(entry) - field_names)
        if unknown:
            raise ValueError(
                f"Task '{name}' in {path}: unknown field(s) {unknown}; "
                f"the fields are {sorted(field_names - {'name'})}."
            )
        missing = [field for field in ("dataset", "text_columns", "task_type", "metric") if not entry.get(field)]
        if missing:
            raise ValueError(f"Task '{name}' in {path}: missing field(s) {missing}.")
        if entry.get("data_files"):
            entry["data_files"] = {
                split: [str(path.parent / f) for f in ([files] if isinstance(files, str) else files)]
                for split, files in entry["data_files"].items()
            }
        specs[name] = TaskDataSpec(name=name, **entry)
    return specs


def load_task_specs(
    task_names: Iterable[str], task_files: Iterable[str | os.PathLike] = ()
) -> dict[str, TaskDataSpec]:
    """
    Looks the named tasks up in the built-in task files (`training/tasks/*.yaml`) and in `task_files`; a task in
    `task_files` overrides a built-in task of the same name.

    Raises:
        `ValueError`: for an unknown task name (listing the known ones) or a malformed task file.
    """
    known: dict[str, TaskDataSpec] = {}
    for path in (*BUILTIN_TASK_FILES, *map(Path, task_files)):
        if not path.is_file():
            raise ValueError(f"Task file {str(path)!r} does not exist.")
        known.update(_read_task_file(path))
    names = list(task_names)
    if not names:
        raise ValueError(f"No task was named; choose among {sorted(known)}.")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"Unknown task(s) {unknown}; the known tasks are {sorted(known)} (add yours with a task file)."
        )
    return {name: known[name] for name in names}


def resolve_data_dir(data_dir: str | os.PathLike | None) -> str | None:
    """`data_dir` if given, else the `MTDNN_DATA_DIR` environment variable, else `None` (the Hub)."""
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV) or None
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ValueError(f"Data directory {str(data_dir)!r} does not exist; fix --data_dir or {DATA_DIR_ENV}.")
    return str(data_dir) if data_dir is not None else None


def local_dataset_folder(data_dir: str | os.PathLike, dataset: str) -> str:
    """
    The local copy of the Hub dataset `dataset` under `data_dir`: `data_dir/<name>` when `data_dir` holds one copy per
    dataset, each in a folder named after the last part of its Hub id with its dataset card (`data/glue/README.md`,
    `data/conll2003/README.md`: tasks of several datasets mix in one run), else `data_dir` itself (one dataset's
    copy).
    """
    nested = Path(data_dir) / dataset.rstrip("/").rsplit("/", 1)[-1]
    return str(nested) if (nested / "README.md").is_file() else str(data_dir)


def load_raw_split(
    spec: TaskDataSpec,
    split: str,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | None = None,
    role: str | None = None,
) -> datasets.Dataset:
    """
    Loads one split of a task with `datasets.load_dataset`, from the Hub or from the local copy `data_dir` (which
    replaces a Hub dataset id; the file builders ignore it). Nothing is downloaded when a local copy is given.
    `split` may be sliced (`validation[:50%]`). With `role` (`train` or `validation`, the split's use), a task with
    `group_split` gets its side of the split, and a ranking task whose train and validation rows come from one
    dataset split is checked to keep each query's candidates on one side.

    Raises:
        `ValueError`: when the local copy lacks the task's configuration or split, or a query straddles the sides.
    """
    data_dir = resolve_data_dir(data_dir)
    if spec.dataset in FILE_BUILDERS:
        path, kwargs = spec.dataset, {"data_files": spec.data_files}
    else:
        path, kwargs = (
            (local_dataset_folder(data_dir, spec.dataset) if data_dir else spec.dataset),
            {"name": spec.config},
        )
    if spec.dataset in FILE_BUILDERS:
        for split_name, files in spec.data_files.items():
            for file in [files] if isinstance(files, str) else files:
                if not any(char in str(file) for char in "*?[") and not Path(file).is_file():
                    raise ValueError(
                        f"Task '{spec.name}': data file {str(file)!r} of split {split_name!r} does not exist; fix the "
                        "task's 'data_files' (relative paths are read from the task file's folder)."
                    )
    if spec.dataset not in FILE_BUILDERS and data_dir is not None:
        cache_dir = _local_copy_cache(path, cache_dir)
    try:
        loaded = datasets.load_dataset(path, **kwargs, cache_dir=cache_dir)
    except ValueError as error:
        if data_dir is not None and "BuilderConfig" in str(error):
            raise ValueError(
                f"Task '{spec.name}': the local copy {data_dir!r} has no configuration {spec.config!r} ({error}). "
                f"Unset --data_dir / {DATA_DIR_ENV} to load '{spec.dataset}' from the Hub, or add the data there."
            ) from None
        if spec.dataset not in FILE_BUILDERS:
            raise
        raise _unreadable(spec, error) from None
    except Exception as error:
        if spec.dataset not in FILE_BUILDERS:
            raise
        raise _unreadable(spec, error) from None

    dataset = _slice(spec, loaded, split, path)
    if role in ("train", "validation") and spec.group_split is not None:
        return spec.select_group_side(dataset, role)
    if role in ("train", "validation") and spec.task_type == "ranking" and {"train", "validation"} <= set(spec.splits):
        _check_queries_on_one_side(spec, loaded, path)
    return dataset


def _local_copy_cache(folder: str, cache_dir: str | None) -> str:
    """
    A datasets cache of its own for one local copy and its current files: datasets names the cache of a local folder
    by the folder's name and configs alone, so two copies called `glue` (or one copy whose files changed) would share
    one cache entry and the second would read the first's rows.
    """
    identity = hashlib.sha256(str(Path(folder).resolve()).encode())
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            stat = path.stat()
            identity.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    root = cache_dir or datasets.config.HF_DATASETS_CACHE
    return str(Path(root) / "mtdnn-local" / identity.hexdigest()[:16])


def _slice(spec: TaskDataSpec, loaded: datasets.DatasetDict, split: str, path: str) -> datasets.Dataset:
    """`loaded[split]`, where `split` may carry a `datasets` slice (`validation[:50%]`)."""
    base = split.partition("[")[0]
    if base not in loaded:
        roles = [role for role, name in spec.splits.items() if name.partition("[")[0] == base]
        serves = f" (the task's {roles[0]} split)" if roles else ""
        raise ValueError(
            f"Task '{spec.name}': split {base!r}{serves} not found in {path!r} (it has {sorted(loaded)}). Leave out "
            "the stage that needs it, or declare the task in your own task file (--task_files) whose 'splits' map "
            f"train and validation onto the splits that exist: another split, a slice ('{sorted(loaded)[0]}[:50%]'), "
            "or one split divided by whole groups with 'group_split' (benchmarks/tasks/qnli_from_validation.yaml "
            "does this for QNLI)."
        )
    if base == split:
        return loaded[split]
    try:
        instructions = datasets.ReadInstruction.from_spec(split).to_absolute({base: len(loaded[base])})
    except (ValueError, AssertionError) as error:
        raise ValueError(
            f"Task '{spec.name}': split {split!r} is not a valid slice ({error}); write e.g. '{base}[:50%]' or "
            f"'{base}[100:]'."
        ) from None
    rows = [row for instruction in instructions for row in range(instruction.from_, instruction.to)]
    return loaded[base].select(rows)


def _check_queries_on_one_side(spec: TaskDataSpec, loaded: datasets.DatasetDict, path: str) -> None:
    """A ranking task's train and validation slices of one dataset split must not share a query."""
    train, validation = spec.splits["train"], spec.splits["validation"]
    if train.partition("[")[0] != validation.partition("[")[0]:
        return  # separate dataset splits: their queries are the dataset's business
    query = spec.text_columns[0]
    train_queries = set(_slice(spec, loaded, train, path)[query])
    shared = [q for q in dict.fromkeys(_slice(spec, loaded, validation, path)[query]) if q in train_queries]
    if shared:
        raise ValueError(
            f"Task '{spec.name}' (ranking): {len(shared)} {query!r} value(s) have candidates on both sides of the "
            f"split, in the train rows {train!r} and the validation rows {validation!r} (the first: {shared[0]!r}); "
            "every query's candidates must be on one side, or the model is scored on questions it trained on. "
            f"Declare train and validation as the same split with group_split: {{column: {query}, "
            "validation_fraction: 0.5}, which holds out whole queries."
        )


def _unreadable(spec: TaskDataSpec, error: Exception) -> ValueError:
    """An empty or malformed data file, named: pandas, pyarrow and datasets name neither the task nor the file."""
    return ValueError(
        f"Task '{spec.name}': the {spec.dataset} file(s) {spec.data_files} cannot be read "
        f"({type(error).__name__}: {error}); check that each holds a header and rows."
    )


def _where(split: str | None) -> str:
    return f", split {split!r}" if split else ""


def _check_columns(spec: TaskDataSpec, dataset: datasets.Dataset, with_labels: bool, split: str | None = None) -> None:
    clashes = [column for column in RESERVED_COLUMNS if column in dataset.column_names]
    if clashes:
        raise ValueError(
            f"Task '{spec.name}': the dataset has column(s) {clashes}, which mt-dnn reserves; rename them first "
            "(dataset.rename_column)."
        )
    needed = spec.text_columns + ([spec.label_column] if with_labels else [])
    missing = [column for column in needed if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"Task '{spec.name}': column(s) {missing} not found; the dataset has {dataset.column_names}. "
            "Fix the task's 'text_columns' / 'label_column'."
        )
    if len(dataset) == 0:
        raise ValueError(f"Task '{spec.name}': the split is empty.")
    if spec.task_type == "token_classification":
        column = spec.text_columns[0]
        for row, words in enumerate(dataset[column]):
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
                raise ValueError(
                    f"Task '{spec.name}'{_where(split)}: column {column!r} holds {words!r} at row {row}, but token "
                    "classification needs a non-empty list of non-empty words per row; clean the data or drop those "
                    "rows (dataset.filter) first."
                )
        return
    for column in spec.text_columns:
        for row, text in enumerate(dataset[column]):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(
                    f"Task '{spec.name}'{_where(split)}: column {column!r} holds {text!r} at row {row}, but every "
                    "text must be a non-empty string; clean the data or drop those rows (dataset.filter) first."
                )


def _check_length(spec: TaskDataSpec, tokenizer: PreTrainedTokenizerBase, length: Any) -> None:
    """The truncation length must leave a token for each text beside the special tokens, and fit the encoder."""
    pair = len(spec.text_columns) == 2
    least = tokenizer.num_special_tokens_to_add(pair=pair) + len(spec.text_columns)
    where = "the task's 'max_seq_length'" if spec.max_seq_length else "--max_seq_length"
    if isinstance(length, bool) or not isinstance(length, int) or length < least:
        raise ValueError(
            f"Task '{spec.name}': max_seq_length {length!r} is too short; a {'pair' if pair else 'text'} needs at "
            f"least {least} tokens ({least - len(spec.text_columns)} special tokens and one per text). Raise {where} "
            "(128 is the paper's)."
        )
    most = tokenizer.model_max_length
    if most and most < 1_000_000 and length > most:
        raise ValueError(
            f"Task '{spec.name}': max_seq_length {length} is longer than the {most} tokens the encoder's tokenizer "
            f"allows (its position embeddings end there); lower {where}."
        )


def _label_ids(spec: TaskDataSpec, dataset: datasets.Dataset) -> np.ndarray:
    """The label column as class ids (or floats for regression), checked against the task's labels."""
    feature = dataset.features[spec.label_column]
    values = dataset[spec.label_column]
    if spec.task_type == "regression":
        for row, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(
                    f"Task '{spec.name}' (regression): label {value!r} at row {row} is not a number; regression "
                    "labels must be real values (convert the column, or give the task task_type: classification)."
                )
        labels = np.asarray(values, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(labels))
        if bad.size:
            raise ValueError(
                f"Task '{spec.name}': label {float(labels[bad[0]])!r} at row {int(bad[0])} is not a finite number; "
                "regression labels must be real values. Clean or drop those rows."
            )
        return labels.astype(np.float32)
    if isinstance(feature, datasets.ClassLabel) and feature.names != spec.label_names:
        raise ValueError(
            f"Task '{spec.name}': the dataset's label names {feature.names} differ from the task's label_names "
            f"{spec.label_names}; make them agree (same names, same order)."
        )
    index = {name: i for i, name in enumerate(spec.label_names)}
    labels = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        if isinstance(value, str):
            if value not in index:
                raise ValueError(
                    f"Task '{spec.name}': label {value!r} at row {row} is not one of {spec.label_names}; fix the "
                    "data or the task's label_names."
                )
            labels[row] = index[value]
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < len(index):
            labels[row] = value
        elif isinstance(value, (float, np.floating)):
            raise ValueError(
                f"Task '{spec.name}': label {value!r} at row {row} is a float, but class labels must be integer ids "
                f"0..{len(index) - 1} or label names {spec.label_names}; cast the label column to int first (a csv "
                "column with empty cells reads as floats)."
            )
        else:
            raise ValueError(
                f"Task '{spec.name}': label {value!r} at row {row} is outside the task's labels 0..{len(index) - 1} "
                f"({spec.label_names}); fix the data, or list it in the task's 'drop_labels'."
            )
    return labels


def prepare_split(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int = 128,
    with_labels: bool = True,
    group_candidates: bool = False,
    max_samples: int | None = None,
    fraction: float | None = None,
    seed: int = 42,
    split: str | None = None,
) -> datasets.Dataset:
    """
    Validates and tokenizes one split into the columns the model and collator read: `input_ids`,
    `attention_mask`, (`token_type_ids`), `labels`, `task_name`, and for ranking `group_id` (ungrouped ranking
    rows carry their class ids as `pair_labels` instead of `labels`).

    Tokenization runs through `Dataset.map` (batched), so a dataset backed by cache files (anything
    `load_dataset` returns) is tokenized once and read from the cache on later runs.

    Args:
        spec (`TaskDataSpec`): the task.
        dataset (`datasets.Dataset`): the raw split.
        tokenizer (`PreTrainedTokenizerBase`): the encoder's tokenizer.
        max_seq_length (`int`, *optional*, defaults to 128):
            Truncation length; the task's own `max_seq_length` wins when set.
        with_labels (`bool`, *optional*, defaults to `True`):
            `False` for unlabelled (test) splits: no `labels` column.
        group_candidates (`bool`, *optional*, defaults to `False`):
            Ranking only: one row per question holding all its candidates (`input_ids` of shape
            `(candidates, seq_len)`) and `labels` = the positive candidate's index, as the ranking loss wants
            (training). Otherwise ranking rows stay pairs with a `group_id` per question, so evaluation can rank
            each question's candidates and still report per-pair accuracy.
        max_samples (`int`, *optional*):
            Keep the first `max_samples` rows (after `fraction`); for grouped ranking rows, the first questions.
        fraction (`float`, *optional*):
            Keep a seeded random fraction of the rows (at least one). The rows are shuffled with `seed` first,
            also at 1.0, so `fraction=1.0, max_samples=n` is a seeded random sample of n rows.
        seed (`int`, *optional*, defaults to 42): the seed of `fraction`.
        split (`str`, *optional*): the split's name, for error messages.

    Token classification rows keep `labels` per token: the word's tag id on its first sub-token, -100 on the
    other sub-tokens and the special tokens (a fast tokenizer is needed for the word alignment), and `word_ids`
    (each token's word, -1 for special tokens).
    """
    _check_columns(spec, dataset, with_labels, split)
    if with_labels and spec.drop_labels:
        drop = set(spec.drop_labels)
        column = dataset[spec.label_column]
        keep = [i for i, value in enumerate(column) if value not in drop]
        if len(keep) < len(column):
            dataset = dataset.select(keep)
        if len(dataset) == 0:
            raise ValueError(f"Task '{spec.name}': no example is left after dropping labels {spec.drop_labels}.")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"Task '{spec.name}': train_fraction must be in (0, 1], got {fraction!r}.")
    # Grouped ranking rows are sampled as whole questions, after grouping: a question's candidates are scattered
    # over the pairs (QNLI), and a sample of pairs would cut most questions down to one candidate.
    by_group = spec.task_type == "ranking" and group_candidates
    if not by_group:
        dataset = _sample(dataset, fraction, max_samples, seed)
    length = spec.max_seq_length or max_seq_length
    _check_length(spec, tokenizer, length)
    if spec.task_type == "token_classification":
        return _prepare_tokens(spec, dataset, tokenizer, length, with_labels, split)
    if spec.task_type == "span_extraction":
        return _prepare_spans(spec, dataset, tokenizer, length, with_labels, split)
    labels = _label_ids(spec, dataset) if with_labels else None
    first, second = (spec.text_columns + [None])[:2]

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        texts = (batch[first], batch[second]) if second else (batch[first],)
        return dict(tokenizer(*texts, truncation=True, max_length=length))

    tokenized = dataset.map(
        tokenize,
        batched=True,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing {spec.name}",
    )
    if labels is not None:
        tokenized = tokenized.add_column("labels", labels.tolist())
    if spec.task_type == "ranking":
        questions = dataset[first]
        group_ids = {question: i for i, question in enumerate(dict.fromkeys(questions))}
        tokenized = tokenized.add_column("group_id", [group_ids[q] for q in questions])
        if group_candidates:
            tokenized = _sample(_group_candidates(spec, tokenized), fraction, max_samples, seed)
        elif labels is not None:
            # Pairs are scored one by one here; their 0/1 labels are for the metric, never the ranking loss.
            tokenized = tokenized.rename_column("labels", "pair_labels")
    return tokenized.add_column("task_name", [spec.name] * len(tokenized))


def _tag_index(spec: TaskDataSpec, dataset: datasets.Dataset) -> dict[Any, int]:
    """Tag name or id -> tag id, after checking the dataset's own tag names against the task's."""
    feature = dataset.features[spec.label_column]
    inner = getattr(feature, "feature", None) or (feature[0] if isinstance(feature, list) and feature else None)
    if isinstance(inner, datasets.ClassLabel) and inner.names != spec.label_names:
        raise ValueError(
            f"Task '{spec.name}': the dataset's tag names {inner.names} differ from the task's label_names "
            f"{spec.label_names}; make them agree (same names, same order)."
        )
    index: dict[Any, int] = {name: i for i, name in enumerate(spec.label_names)}
    return index | {i: i for i in range(len(spec.label_names))}


def _check_tags(spec: TaskDataSpec, dataset: datasets.Dataset, index: dict[Any, int], split: str | None) -> None:
    """Every row has one known tag per word; the error names the task, split, row and field."""
    words_column = spec.text_columns[0]
    for row, (words, tags) in enumerate(zip(dataset[words_column], dataset[spec.label_column])):
        where = f"Task '{spec.name}'{_where(split)}, row {row}"
        if not isinstance(tags, list) or len(tags) != len(words):
            count = len(tags) if isinstance(tags, list) else type(tags).__name__
            raise ValueError(
                f"{where}: {len(words)} words in {words_column!r} but {count} tags in {spec.label_column!r}; every "
                "word needs exactly one tag. Fix or drop the row."
            )
        for position, tag in enumerate(tags):
            if isinstance(tag, bool) or not isinstance(tag, (str, int, np.integer)) or tag not in index:
                raise ValueError(
                    f"{where}: tag {tag!r} of word {position} ({words[position]!r}) in {spec.label_column!r} is not "
                    f"one of the task's label_names {spec.label_names} (or their ids 0..{len(spec.label_names) - 1}); "
                    "fix the data or the task's label_names."
                )


def _require_fast_tokenizer(spec: TaskDataSpec, tokenizer: PreTrainedTokenizerBase, why: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"Task '{spec.name}' ({spec.task_type}): {why} needs a fast tokenizer, but {type(tokenizer).__name__} is "
            "a slow one; load it with AutoTokenizer (use_fast=True)."
        )


def _prepare_tokens(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    length: int,
    with_labels: bool,
    split: str | None,
) -> datasets.Dataset:
    """Tokenizes word lists and aligns one tag per word to the word's first sub-token (the others get -100)."""
    _require_fast_tokenizer(spec, tokenizer, "aligning tags with sub-tokens (word_ids)")
    words_column = spec.text_columns[0]
    index = _tag_index(spec, dataset) if with_labels else {}
    if with_labels:
        _check_tags(spec, dataset, index, split)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch[words_column], is_split_into_words=True, truncation=True, max_length=length)
        # each token's word (-1 for special tokens): where a prediction reads a word's tag
        encoded["word_ids"] = [
            [-1 if word is None else word for word in encoded.word_ids(i)] for i in range(len(encoded["input_ids"]))
        ]
        if with_labels:
            aligned = []
            for i, tags in enumerate(batch[spec.label_column]):
                previous, row = None, []
                for word in encoded.word_ids(i):
                    row.append(-100 if word is None or word == previous else index[tags[word]])
                    previous = word
                aligned.append(row)
            encoded["labels"] = aligned
        return dict(encoded)

    tokenized = dataset.map(
        tokenize, batched=True, remove_columns=dataset.column_names, desc=f"Tokenizing {spec.name}"
    )
    if with_labels:
        cut = sum(
            sum(tag != -100 for tag in labels) < len(words)
            for labels, words in zip(tokenized["labels"], dataset[words_column])
        )
        if cut:
            logger.warning(
                "Task %s%s: %d of %d rows are longer than %d tokens; their last words are cut off and not scored. "
                "Raise max_seq_length to keep them.",
                spec.name,
                _where(split),
                cut,
                len(dataset),
                length,
            )
    return tokenized.add_column("task_name", [spec.name] * len(tokenized))


def _check_answers(spec: TaskDataSpec, dataset: datasets.Dataset, split: str | None) -> None:
    """Every answer is a span of its context: `context[answer_start:][:len(text)] == text`."""
    context_column = spec.text_columns[1]
    for row, (context, answers) in enumerate(zip(dataset[context_column], dataset[spec.label_column])):
        where = f"Task '{spec.name}'{_where(split)}, row {row}, field {spec.label_column!r}"
        if not isinstance(answers, dict) or set(answers) < {"text", "answer_start"}:
            raise ValueError(
                f"{where}: expected a mapping with 'text' and 'answer_start' lists (SQuAD's layout), got {answers!r}."
            )
        texts, starts = answers["text"], answers["answer_start"]
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise ValueError(f"{where}: 'text' and 'answer_start' must be lists of one length, got {answers!r}.")
        if not texts:
            raise ValueError(
                f"{where}: the question has no answer; unanswerable questions (SQuAD 2.0) are not supported yet. "
                "Drop those rows (dataset.filter) first."
            )
        for text, start in zip(texts, starts):
            if not isinstance(text, str) or not text or isinstance(start, bool) or not isinstance(start, int):
                raise ValueError(f"{where}: answer {text!r} at {start!r} must be a non-empty text and an int offset.")
            if context[start : start + len(text)] != text:
                raise ValueError(
                    f"{where}: answer_start {start} points at {context[start : start + len(text)]!r}, not at the "
                    f"answer text {text!r}; answer_start must be the answer's character offset in the context."
                )


def _prepare_spans(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    length: int,
    with_labels: bool,
    split: str | None,
) -> datasets.Dataset:
    """
    Question-context pairs as windows over the context (`doc_stride` tokens shared by consecutive ones), as
    transformers' question-answering examples build them. Each window (feature) keeps `example_id` (its row),
    `offset_mapping` (each token's character span in the context, [-1, -1] outside it) and `context`, and with labels
    `labels` = the first answer's (start, end) tokens ([CLS] twice where the window misses the answer) and
    `answer_texts` (every gold answer, for EM and F1).
    """
    _require_fast_tokenizer(spec, tokenizer, "mapping answers to tokens (offsets)")
    if with_labels:
        _check_answers(spec, dataset, split)
    question_column, context_column = spec.text_columns
    stride = spec.doc_stride if spec.doc_stride is not None else length // 4
    longest_question = max(
        len(tokenizer(question.lstrip(), add_special_tokens=False)["input_ids"])
        for question in dataset[question_column]
    )
    room = length - tokenizer.num_special_tokens_to_add(pair=True) - longest_question  # context tokens per window
    if stride >= room:
        raise ValueError(
            f"Task '{spec.name}'{_where(split)}: doc_stride {stride} leaves no room for new context tokens in windows "
            f"of {length} tokens whose longest question takes {longest_question} (and {room} context tokens are "
            "left); lower doc_stride or raise max_seq_length."
        )

    def tokenize(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        encoded = tokenizer(
            [question.lstrip() for question in batch[question_column]],
            batch[context_column],
            truncation="only_second",
            max_length=length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        samples = encoded.pop("overflow_to_sample_mapping")
        features: dict[str, list] = {"example_id": [], "offset_mapping": [], "context": []}
        if with_labels:
            features |= {"labels": [], "answer_texts": []}
        for i, offsets in enumerate(encoded.pop("offset_mapping")):
            sample, sequence = samples[i], encoded.sequence_ids(i)
            features["example_id"].append(indices[sample])
            features["offset_mapping"].append([list(o) if s == 1 else [-1, -1] for o, s in zip(offsets, sequence)])
            features["context"].append(batch[context_column][sample])
            if not with_labels:
                continue
            answers = batch[spec.label_column][sample]
            features["answer_texts"].append(answers["text"])
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            first, last = sequence.index(1), len(sequence) - 1 - sequence[::-1].index(1)
            if offsets[first][0] > start_char or offsets[last][1] < end_char:
                features["labels"].append({"start": 0, "end": 0})  # the answer is not (whole) in this window
                continue
            start = first
            while start <= last and offsets[start][0] <= start_char:
                start += 1
            end = last
            while end >= first and offsets[end][1] >= end_char:
                end -= 1
            features["labels"].append({"start": start - 1, "end": end + 1})
        return dict(encoded) | features

    tokenized = dataset.map(
        tokenize,
        batched=True,
        with_indices=True,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing {spec.name}",
    )
    return tokenized.add_column("task_name", [spec.name] * len(tokenized))


def _sample(dataset: datasets.Dataset, fraction: float | None, max_samples: int | None, seed: int) -> datasets.Dataset:
    """A seeded random `fraction` of the rows (shuffled with `seed` first, even at 1.0), then the first max_samples."""
    if fraction is not None:
        count = max(1, math.ceil(fraction * len(dataset)))
        dataset = dataset.shuffle(seed=seed).select(range(count))
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset


def _group_candidates(spec: TaskDataSpec, pairs: datasets.Dataset) -> datasets.Dataset:
    """One row per (question, positive candidate): all the question's candidates, `labels` = the positive's index.

    Questions without a relevant candidate, or without an irrelevant one to rank it against (a single candidate, or
    only relevant ones: the softmax over one candidate is 1, so its loss and gradient are 0), give the ranking loss
    no training signal and are dropped; a question with several relevant candidates gives one row per relevant
    candidate, each with all irrelevant ones.
    """
    positive = spec.label_names.index(spec.positive_label)
    members: dict[int, list[int]] = {}
    for row, group in enumerate(pairs["group_id"]):
        members.setdefault(group, []).append(row)
    labels = pairs["labels"]
    model_columns = [c for c in pairs.column_names if c not in ("labels", "group_id")]
    columns = {c: pairs[c] for c in model_columns}
    grouped: dict[str, list] = {c: [] for c in model_columns} | {"labels": [], "group_id": []}
    alone = 0
    for group, rows in members.items():
        positives = [r for r in rows if labels[r] == positive]
        negatives = [r for r in rows if labels[r] != positive]
        if positives and not negatives:
            alone += 1
            continue
        for relevant in positives:
            candidates = [relevant, *negatives]
            for column in model_columns:
                grouped[column].append([columns[column][r] for r in candidates])
            grouped["labels"].append(0)
            grouped["group_id"].append(group)
    if not grouped["labels"]:
        raise ValueError(
            f"Task '{spec.name}' (ranking): no question has a candidate labelled {spec.positive_label!r} beside "
            "an irrelevant one, so there is nothing to rank; check positive_label and the data (a query needs a "
            "relevant and an irrelevant candidate)."
        )
    if alone:
        logger.info(
            "Task %s (ranking): %d of %d queries have no irrelevant candidate to rank the relevant one against (a "
            "softmax over one candidate has zero loss); they are left out of training.",
            spec.name,
            alone,
            len(members),
        )
    return datasets.Dataset.from_dict(grouped)

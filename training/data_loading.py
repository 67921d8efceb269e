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
"""Loading a task's raw splits with `datasets`: from the Hub, a local copy or data files; slices and group splits."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets
import numpy as np

from .task_files import FILE_BUILDERS, TaskDataSpec

__all__ = ["DATA_DIR_ENV", "load_raw_split", "local_dataset_folder", "resolve_data_dir", "select_group_side"]

DATA_DIR_ENV = "MTDNN_DATA_DIR"


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
    except ConnectionError as error:  # huggingface_hub's offline errors derive from it too
        if spec.dataset in FILE_BUILDERS or data_dir is not None:
            raise
        raise ConnectionError(
            f"Task '{spec.name}': {error} Offline, point --data_dir (or the {DATA_DIR_ENV} environment variable) "
            f"at a local copy in the layout of the Hub dataset '{spec.dataset}': its folder, or a folder holding it "
            f"as '{spec.dataset.rstrip('/').rsplit('/', 1)[-1]}/'."
        ) from error
    except Exception as error:
        if spec.dataset not in FILE_BUILDERS:
            raise
        raise _unreadable(spec, error) from None

    dataset = _slice(spec, loaded, split, path)
    if role in ("train", "validation") and spec.group_split is not None:
        return select_group_side(spec, dataset, role)
    if role in ("train", "validation") and spec.kind.groups_candidates and {"train", "validation"} <= set(spec.splits):
        _check_queries_on_one_side(spec, loaded, path)
    return dataset


def select_group_side(spec: TaskDataSpec, dataset: datasets.Dataset, role: str) -> datasets.Dataset:
    """The rows of `dataset` on `role`'s side (`train` or `validation`) of `spec.group_split`; `dataset` otherwise."""
    if spec.group_split is None or role not in ("train", "validation"):
        return dataset
    column = spec.group_split["column"]
    if column not in dataset.column_names:
        raise ValueError(
            f"Task '{spec.name}': group_split column {column!r} not found; the dataset has "
            f"{dataset.column_names}. Fix the task's 'group_split'."
        )
    values = dataset[column]
    groups = list(dict.fromkeys(values))
    order = np.random.default_rng(spec.group_split["seed"]).permutation(len(groups))
    held_out = max(1, min(len(groups) - 1, round(spec.group_split["validation_fraction"] * len(groups))))
    validation = {groups[i] for i in order[:held_out]}
    rows = [row for row, value in enumerate(values) if (value in validation) == (role == "validation")]
    return dataset.select(rows)


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

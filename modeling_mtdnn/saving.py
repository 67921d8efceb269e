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
"""Saves that never leave a half-written folder, and loads whose failures name the file and the fix."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_WEIGHTS_FILE",
    "HEAD_CONFIG_FILE",
    "HEAD_WEIGHTS_FILE",
    "atomic_directory",
    "check_local_path",
    "is_local_path",
    "public_name",
    "read_json",
    "saved_name",
]

# The files of one task's head saved alone (`save_head`) and of its LoRA adapter (`save_task_adapter`).
HEAD_CONFIG_FILE = "head_config.json"
HEAD_WEIGHTS_FILE = "head.safetensors"
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"

_STAGING = re.compile(r"^\.(?P<name>.+)\.saving-[^.]+$")

# Weight files a new save replaces as a whole: a folder keeps no shard of an earlier, differently sharded save.
_WEIGHT_FILE = re.compile(r"^(model|pytorch_model|head)(-\d{5}-of-\d{5})?\.(safetensors|bin)(\.index\.json)?$")


@contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """
    Yields an empty staging folder beside `target` to write a save into; when the block ends without an error, every
    file written there replaces its namesake in `target` (created if needed), weights first and `config.json` last,
    and weight files of an earlier save that the new one does not have are removed. When the block raises, `target`
    is left exactly as it was and the staging folder is deleted.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp()) / "ckpt"
    >>> with atomic_directory(folder) as staging:
    ...     _ = (staging / "config.json").write_text("{}")
    >>> sorted(path.name for path in folder.iterdir())
    ['config.json']

    ```
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{saved_name(target)}.saving-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would otherwise become the saved folder's mode
    try:
        yield staging
        if not target.exists():
            os.replace(staging, target)  # one rename: the folder appears complete or not at all
            return
        written = [path for path in staging.rglob("*") if path.is_file()]
        # Weights before configs: an interrupted swap then pairs new weights with the old config at worst for one
        # rename, never a config that names weights not yet there.
        written.sort(key=lambda path: (path.name in ("config.json", "head_config.json"), str(path)))
        names = {path.relative_to(staging).as_posix() for path in written}
        for path in written:
            destination = target / path.relative_to(staging)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
        for stale in target.iterdir():
            if stale.is_file() and _WEIGHT_FILE.match(stale.name) and stale.name not in names:
                stale.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """
    Yields a temporary path beside `target` to write one file to; it replaces `target` in one rename once the block
    ends without an error, and is removed otherwise, so `target` is always either the old file or the whole new one.
    """
    target = Path(target)
    temporary = target.with_name(target.name + ".tmp")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def saved_name(folder: str | os.PathLike) -> str:
    """The name of the folder a save ends up in: `folder`'s own, or its target's when it is a staging folder."""
    name = Path(os.path.abspath(folder)).name
    while match := _STAGING.match(name):
        name = match["name"]
    return name


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Reads a JSON file; a missing or corrupt one raises a `ValueError` naming the file, what it is and the fix."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{what} {str(path)!r} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{what} {str(path)!r} is not valid JSON ({error}); the file is corrupt or was cut short. Write it again "
            "(save once more), or restore it from a copy."
        ) from None


def read_safetensors(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The tensors of a safetensors file; a truncated or corrupt one is a `ValueError` naming `what` and the file."""
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except Exception as error:  # safetensors raises its own SafetensorError for a cut or corrupt file
        raise ValueError(
            f"{what}: {str(path)!r} cannot be read ({error}); the file is truncated or corrupt. Save or download it "
            "again."
        ) from None


def _looks_local(text: str) -> bool:
    """Absolute, starting with `.` or `~`, or with more than one `/` or a backslash: no Hub id looks like that."""
    return os.path.isabs(text) or text.startswith((".", "~")) or text.count("/") > 1 or "\\" in text


def is_local_path(name_or_path: str | os.PathLike | None) -> bool:
    """Whether `name_or_path` names a local file or folder (one that exists, or one no Hub id could be)."""
    if not name_or_path:
        return False
    text = os.fspath(name_or_path)
    return _looks_local(text) or os.path.exists(text)


def public_name(name_or_path: str | os.PathLike | None) -> str | None:
    """`name_or_path` if it is a Hub id; the last part of a local path otherwise (no machine path leaves a save)."""
    if not name_or_path:
        return None
    if not is_local_path(name_or_path):
        return os.fspath(name_or_path)
    return os.path.basename(os.path.normpath(os.path.expanduser(os.fspath(name_or_path)))) or None


def check_local_path(name_or_path: str | os.PathLike, what: str) -> None:
    """
    Raises a `ValueError` when `name_or_path` is clearly meant as a local folder (absolute, starting with `.` or
    `~`, or with more than one `/`, which no Hub id has) and does not exist, instead of letting it be looked up as a
    Hub id.
    """
    text = os.fspath(name_or_path)
    if _looks_local(text) and not os.path.exists(os.path.expanduser(text)):
        raise ValueError(f"{what} {text!r} is a local path that does not exist; fix the path (it is not a Hub id).")

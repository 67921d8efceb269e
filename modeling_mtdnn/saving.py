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

import ctypes
import errno
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging

__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_WEIGHTS_FILE",
    "HEAD_CONFIG_FILE",
    "HEAD_WEIGHTS_FILE",
    "atomic_directory",
    "check_local_path",
    "fingerprint_weights",
    "is_local_path",
    "public_name",
    "read_json",
    "recover_interrupted_save",
    "saved_name",
]

# The files of one task's head saved alone (`save_head`) and of its LoRA adapter (`save_task_adapter`).
HEAD_CONFIG_FILE = "head_config.json"
HEAD_WEIGHTS_FILE = "head.safetensors"
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"

logger = logging.get_logger(__name__)

_STAGING = re.compile(r"^\.(?P<name>.+)\.saving-[^.]+$")

# The staging folders of the saves this process has under way: a save nested in another into the same folder
# (`Trainer.save_model` pushing to the Hub saves again) must not take the outer one's for a killed save's leftover.
_LIVE_STAGING: set[str] = set()

# Weight files a new save replaces as a whole: a folder keeps no shard of an earlier, differently sharded save.
_WEIGHT_FILE = re.compile(r"^(model|pytorch_model|head)(-\d{5}-of-\d{5})?\.(safetensors|bin)(\.index\.json)?$")


@contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """
    Yields an empty staging folder beside `target` (`.<name>.saving-<random>`) to write a save into; when the block
    ends without an error, that folder takes `target`'s place as a whole. When the block raises, `target` is left
    exactly as it was and the staging folder is deleted.

    The guarantee: wherever the process is killed, `target` then loads as the complete old save or the complete new
    one, never new weights beside an old config, and keeps the files the save does not write.

    - A new `target` appears in one rename.
    - An existing `target` is swapped with the staging folder in one atomic exchange (`renameat2(RENAME_EXCHANGE)`,
      Linux 3.15+ on ext4, xfs, btrfs, tmpfs and most local file systems): at every instant `target` is the whole old
      or the whole new folder. Where the system cannot exchange, it takes two renames: `target` aside to
      `.<name>.old-<random>`, then the staging folder into place. A kill between them leaves no `target`, only the
      complete old folder aside, and the next save into `target`, [`recover_interrupted_save`] and
      `MTDNNForMultiTask.from_pretrained(target)` (through [`check_local_path`]) put it back first; a reader that
      opens `target` between the two renames finds nothing there.
    - What `target` holds that the new save does not write (a Trainer output folder's results, logs and
      `checkpoint-N` folders, a user's notes) is carried into the staging folder before the swap, as hard links
      (copies on a file system without them), so it is never missing from `target`; anything another process writes
      into the old folder while the swap runs is moved over after it. Weight files of an earlier save that the new
      one does not have (another sharding) are dropped.
    - Staging and set-aside folders that a killed save left beside `target` are deleted by the next save into it.

    One save into a folder at a time; durability across a power cut is not promised (nothing is fsynced). A `target`
    that is itself a staging folder (a save nested in another, as `Trainer.save_model` calls `save_pretrained`) is
    written into directly: the outer save makes it atomic.

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
    if target.is_symlink():  # swap the folder it points to, where the save belongs, not the link
        target = Path(os.path.realpath(target))
    if target.exists() and not target.is_dir():
        raise ValueError(
            f"Cannot save into {str(target)!r}: it is a file, not a folder. Remove or rename the file, or save "
            "into another folder."
        )
    if _STAGING.match(target.name) and target.is_dir():  # nested in another atomic save, which swaps the whole
        yield target
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_save(target)
    for leftover in _leftovers(target, "saving") + _leftovers(target, "old"):  # of saves killed before
        if os.path.realpath(leftover) not in _LIVE_STAGING:  # not an enclosing save's (as Trainer.push_to_hub nests)
            shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    live = os.path.realpath(staging)
    _LIVE_STAGING.add(live)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would otherwise become the saved folder's mode
        yield staging
        _swap_in(staging, target)
    finally:
        _LIVE_STAGING.discard(live)
        shutil.rmtree(staging, ignore_errors=True)  # the staging folder, or the old save after an exchange


def recover_interrupted_save(target: str | os.PathLike) -> bool:
    """
    Puts back the save that [`atomic_directory`] set aside (`.<name>.old-<random>`) when it was killed between its
    two renames, where `target` no longer exists; returns whether it did. A no-op for anything else, Hub ids too.

    Raises:
        `ValueError`: when several set-aside folders compete for `target` (only concurrent saves leave that), naming
        them and the fix.
    """
    target = Path(os.fspath(target))
    if os.path.lexists(target):
        return False
    aside = _leftovers(target, "old")
    if not aside:
        return False
    if len(aside) > 1:
        raise ValueError(
            f"{str(target)!r} is missing and interrupted saves set aside several earlier versions of it: "
            f"{[str(path) for path in aside]}. Rename the one to keep to {target.name!r} and delete the others."
        )
    os.rename(aside[0], target)
    logger.warning(
        "%s: a save into it was interrupted after it moved the earlier version aside; put that version back from %s.",
        target,
        aside[0].name,
    )
    return True


def _leftovers(target: Path, kind: str) -> list[Path]:
    """The `.<name>.<kind>-<random>` siblings of `target`: staging (`saving`) or set-aside (`old`) folders."""
    prefix = f".{target.name}.{kind}-"
    try:
        entries = list(os.scandir(target.parent))
    except OSError:  # no such parent (a Hub id), or not readable: nothing to recover or clean
        return []
    names = [entry for entry in entries if entry.name.startswith(prefix) and "." not in entry.name[len(prefix) :]]
    return sorted(Path(entry.path) for entry in names if entry.is_dir(follow_symlinks=False))


def _swap_in(staging: Path, target: Path) -> None:
    """Puts the complete folder `staging` in `target`'s place as `atomic_directory` describes."""
    if not os.path.lexists(target):
        try:
            os.rename(staging, target)  # one rename: the folder appears complete or not at all
            return
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another process created `target` since: swap with it as with any existing folder.
    _carry_over(target, staging, move=False)
    if _exchange(staging, target):
        _carry_over(staging, target, move=True)  # what reached the old folder during the swap
        return
    aside = target.with_name(f".{target.name}.old-{staging.name.rsplit('.saving-', 1)[1]}")
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except OSError:
        if not os.path.lexists(target):
            os.rename(aside, target)  # the old save back in place: `target` is as it was
        else:
            logger.error("%s was recreated during the save; its earlier version is in %s.", target, aside)
        raise
    _carry_over(aside, target, move=True)
    shutil.rmtree(aside, ignore_errors=True)


def _carry_over(source: Path | str, destination: Path | str, move: bool, top: bool = True) -> None:
    """
    Brings into `destination` each entry of `source` that it lacks (inside folders both have too), by rename when
    `move`, else as hard links (copies where the file system has none) that leave `source` whole. At the top level,
    weight files are not brought: a new save's weights replace all of an earlier save's.
    """
    for entry in os.scandir(source):
        there = os.path.join(destination, entry.name)
        if os.path.lexists(there):
            if entry.is_dir(follow_symlinks=False) and os.path.isdir(there) and not os.path.islink(there):
                _carry_over(entry.path, there, move, top=False)
            continue
        if top and _WEIGHT_FILE.match(entry.name) and not entry.is_dir(follow_symlinks=False):
            continue
        if move:
            os.rename(entry.path, there)
        elif entry.is_dir(follow_symlinks=False):
            shutil.copytree(entry.path, there, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry.path, there)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination, follow_symlinks=False)
    except (OSError, NotImplementedError):  # a file system without hard links: a copy, slower and as safe
        shutil.copy2(source, destination, follow_symlinks=False)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2():
    """libc's `renameat2`, or None where there is none (not Linux, or a libc older than glibc 2.28)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _exchange(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """
    Swaps the two existing paths in one atomic step; False, with nothing changed, where the system or the file
    system cannot (then `atomic_directory` takes two renames).
    """
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), os.fspath(first), None, os.fspath(second))


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


def fingerprint_weights(state_dict: dict[str, torch.Tensor], skip: Sequence[str] = ()) -> str:
    """
    A SHA-256 of a model's weights (names, shapes and values rounded to bfloat16, so that an fp32 and a bf16 load of
    the same checkpoint agree), as `"sha256:<hex>"`: the same for the same weights wherever they were loaded from.
    """
    digest = hashlib.sha256()
    skipped = set(skip)
    for name in sorted(state_dict):
        if name in skipped:
            continue
        tensor = state_dict[name].detach()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.bfloat16).view(torch.int16)
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.cpu().contiguous().numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


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
    Hub id. A folder that a killed save left set aside is put back first (see [`recover_interrupted_save`]), so a
    load after an interrupted save finds the earlier checkpoint complete.
    """
    text = os.fspath(name_or_path)
    recover_interrupted_save(os.path.expanduser(text))
    if _looks_local(text) and not os.path.exists(os.path.expanduser(text)):
        raise ValueError(f"{what} {text!r} is a local path that does not exist; fix the path (it is not a Hub id).")
    if "/" in text and not os.path.exists(text):  # `outputs/demo` reads as a Hub id too: say where it was not found
        logger.warning(
            f"{what} {text!r}: there is no such local folder (relative to {os.getcwd()}); looking it up as a Hub id."
        )

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
"""Saves are all-or-nothing, also when killed: a folder holds a whole old or a whole new checkpoint, never a mix."""

from __future__ import annotations

import builtins
import copy
import io
import itertools
import json
import logging
import os
import re
import shutil
import signal
import traceback
from pathlib import Path

import pytest
import torch
import transformers.modeling_utils
from safetensors.torch import load_file
from transformers import AutoTokenizer
from transformers.trainer_utils import get_last_checkpoint

from modeling_mtdnn import MTDNNForMultiTask, saving
from modeling_mtdnn.saving import atomic_directory, recover_interrupted_save
from mtdnn.training.arguments import MTDNNTrainingArguments
from mtdnn.training.run_mtdnn import check_output_dir
from mtdnn.training.smart import PROXIMAL_FILE
from mtdnn.training.trainer import SAMPLER_STATE_FILE

from .conftest import minilm_folder
from .test_trainer import make_trainer, tiny_data

# What a Trainer's output folder holds besides the model: a save into it must keep them, whatever happens.
USER_FILES = {"eval_results.json": '{"eval_average": 0.5}\n', "checkpoint-1/trainer_state.json": '{"global_step": 1}'}


def exchange_works(folder: Path) -> bool:
    first, second = folder / "first", folder / "second"
    first.mkdir()
    second.mkdir()
    try:
        return saving._exchange(first, second)
    finally:
        shutil.rmtree(first)
        shutil.rmtree(second)


@pytest.fixture(params=["exchange", "two renames"])
def swap(request, tmp_path, monkeypatch):
    """Each test runs with the atomic exchange (where the file system has it) and with the two-rename fallback."""
    if request.param == "exchange" and not exchange_works(tmp_path):
        pytest.skip("this file system has no renameat2(RENAME_EXCHANGE)")
    if request.param == "two renames":
        monkeypatch.setattr(saving, "_exchange", lambda first, second: False)
    return request.param


def write_user_files(folder: Path) -> None:
    for name, text in USER_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def assert_user_files(folder: Path) -> None:
    assert {name: (folder / name).read_text() for name in USER_FILES} == USER_FILES


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.parent.iterdir() if path.name.startswith(f".{folder.name}."))


@pytest.fixture
def old_and_new(tiny_model):
    """Two different checkpoints of one model: the new one has one more task and every weight moved."""
    new = copy.deepcopy(tiny_model)
    new.add_task("wnli", {"task_type": "classification", "num_labels": 2})
    with torch.no_grad():
        for parameter in new.parameters():
            parameter.add_(1.0)
    return tiny_model, new


def which(model, old, new) -> str:
    """'old' or 'new' when `model` is wholly one of them (a weight and the config agree); fails on a mix."""
    name = next(name for name, _ in old.named_parameters())
    tasks, weight = set(model.config.tasks), model.state_dict()[name]
    if tasks == set(old.config.tasks) and torch.equal(weight, old.state_dict()[name]):
        return "old"
    if tasks == set(new.config.tasks) and torch.equal(weight, new.state_dict()[name]):
        return "new"
    raise AssertionError(f"a mix of two checkpoints: tasks {sorted(tasks)}")


# ----------------------------------------------------------------------------------------- item 1: the swap
def test_a_save_over_a_checkpoint_replaces_the_folder_whole_and_keeps_what_it_does_not_write(old_and_new, tmp_path, swap):  # fmt: skip
    old, new = old_and_new
    folder = tmp_path / "ckpt"
    old.save_pretrained(folder, max_shard_size="100KB")
    write_user_files(folder)
    before = os.stat(folder).st_ino
    new.save_pretrained(folder)
    # One folder for another (the current code moved files into the old folder one by one, config.json last).
    assert os.stat(folder).st_ino != before
    assert which(MTDNNForMultiTask.from_pretrained(folder), old, new) == "new"
    assert_user_files(folder)
    assert not list(folder.glob("model-*.safetensors")) and not (folder / "model.safetensors.index.json").exists()
    assert leftovers(folder) == []


@pytest.mark.parametrize("save", ["save_head", "save_task_adapter"])
def test_heads_and_adapters_are_swapped_whole_too(tiny_model, tmp_path, save, swap):
    if save == "save_task_adapter":
        tiny_model.add_task_adapter("rte", r=4)
    folder = tmp_path / "rte"
    getattr(tiny_model, save)("rte", folder)
    (folder / "notes.txt").write_text("mine")
    before = os.stat(folder).st_ino
    with torch.no_grad():
        for parameter in tiny_model.heads["rte"].parameters():
            parameter.add_(1.0)
    getattr(tiny_model, save)("rte", folder)
    assert os.stat(folder).st_ino != before
    saved = load_file(folder / "head.safetensors")
    for key, value in tiny_model.heads["rte"].state_dict().items():
        torch.testing.assert_close(saved[key], value)
    assert (folder / "notes.txt").read_text() == "mine"
    assert leftovers(folder) == []


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def test_trainer_save_model_swaps_the_output_folder_and_keeps_its_checkpoints_and_results(tokenizer, tmp_path, swap):
    out = tmp_path / "out"
    trainer = make_trainer(tokenizer, out, max_steps=2, save_strategy="steps", save_steps=2)
    trainer.train()
    trainer.save_model()
    write_user_files(out)
    checkpoint = {path.name: path.read_bytes() for path in (out / "checkpoint-2").iterdir()}
    before = os.stat(out).st_ino
    with torch.no_grad():
        trainer.model.heads["cola"].classifier.bias.add_(1.0)
    trainer.save_model()
    assert os.stat(out).st_ino != before
    assert {path.name: path.read_bytes() for path in (out / "checkpoint-2").iterdir()} == checkpoint
    assert_user_files(out)
    saved = load_file(out / "model.safetensors")
    torch.testing.assert_close(saved["heads.cola.classifier.bias"], trainer.model.heads["cola"].classifier.bias)
    assert leftovers(out) == []


def test_a_save_nested_in_another_into_the_same_folder_keeps_the_outer_one_whole(old_and_new, tmp_path):
    old, new = old_and_new
    folder = tmp_path / "ckpt"
    old.save_pretrained(folder)
    with atomic_directory(folder) as staging:  # as Trainer.save_model -> push_to_hub -> save_model nest
        new.save_pretrained(staging)
        new.save_pretrained(folder)
        (staging / "after.txt").write_text("after")
    assert (folder / "after.txt").read_text() == "after"
    assert which(MTDNNForMultiTask.from_pretrained(folder), old, new) == "new"
    assert leftovers(folder) == []


def test_a_failed_second_rename_puts_the_old_checkpoint_back(old_and_new, tmp_path, monkeypatch):
    old, new = old_and_new
    folder = tmp_path / "ckpt"
    old.save_pretrained(folder)
    write_user_files(folder)
    monkeypatch.setattr(saving, "_exchange", lambda first, second: False)
    rename = os.rename

    def failing(source, destination):
        if ".saving-" in os.fspath(source):
            raise OSError(5, "Input/output error")
        return rename(source, destination)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(OSError, match="Input/output error"):
        new.save_pretrained(folder)
    monkeypatch.undo()
    assert which(MTDNNForMultiTask.from_pretrained(folder), old, new) == "old"
    assert_user_files(folder)
    assert leftovers(folder) == []


def test_a_load_puts_back_the_checkpoint_a_killed_save_had_set_aside(old_and_new, tmp_path):
    old, new = old_and_new
    folder = tmp_path / "ckpt"
    old.save_pretrained(folder)
    os.rename(folder, tmp_path / ".ckpt.old-k1ll3d")  # a save killed between its two renames leaves this
    assert which(MTDNNForMultiTask.from_pretrained(folder), old, new) == "old"
    assert leftovers(folder) == []
    assert not recover_interrupted_save(folder)  # nothing more to do
    (tmp_path / ".ckpt.old-a").mkdir()
    (tmp_path / ".ckpt.old-b").mkdir()
    os.rename(folder, tmp_path / "elsewhere")
    with pytest.raises(ValueError, match=re.escape(f"{str(folder)!r} is missing and interrupted saves set aside several earlier versions of it: ['{tmp_path / '.ckpt.old-a'}', '{tmp_path / '.ckpt.old-b'}']. Rename the one to keep to 'ckpt' and delete the others.")):  # fmt: skip
        MTDNNForMultiTask.from_pretrained(folder)


def test_a_save_into_a_file_names_it_and_the_fix(tmp_path):
    (tmp_path / "ckpt").write_text("not a folder")
    with pytest.raises(ValueError, match=re.escape(f"Cannot save into '{tmp_path / 'ckpt'}': it is a file, not a folder. Remove or rename the file, or save into another folder.")):  # fmt: skip
        with atomic_directory(tmp_path / "ckpt"):
            pass
    assert (tmp_path / "ckpt").read_text() == "not a folder"


# ---------------------------------------------------------------------------------------- item 2: leftovers
def test_the_next_save_cleans_up_what_killed_saves_left(old_and_new, tmp_path):
    old, _ = old_and_new
    folder = tmp_path / "ckpt"
    old.save_pretrained(folder)
    for name in (".ckpt.saving-abc123", ".ckpt.old-def456", ".other.saving-abc123", ".ckpt.saving-x.saving-y"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"\x00" * 10)  # half written
    old.save_pretrained(folder)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".ckpt.saving-x.saving-y", ".other.saving-abc123", "ckpt"]  # fmt: skip


# ---------------------------------------------------------------------------------------- item 3: the kill test
# Every file operation a save performs; the child is killed just before the N-th.
_OPERATIONS = [(os, name) for name in ("rename", "replace", "link", "unlink", "rmdir", "mkdir", "chmod", "symlink")]
_OPERATIONS += [(shutil, "copy2"), (transformers.modeling_utils, "safe_save_file")]


def _save_in_a_child(model, folder: Path, kill_at: int, exchange: bool) -> tuple[bool, int | None]:
    """Saves `model` into `folder` in a forked child killed (SIGKILL) before its `kill_at`-th file operation."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read)
            counter = itertools.count()

            def stopping(function):
                def operation(*args, **kwargs):
                    if next(counter) == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return function(*args, **kwargs)

                return operation

            def opening(function):
                def opened(file, mode="r", *args, **kwargs):
                    return (stopping(function) if any(c in mode for c in "wax+") else function)(file, mode, *args, **kwargs)  # fmt: skip

                return opened

            for module, name in _OPERATIONS:
                setattr(module, name, stopping(getattr(module, name)))
            builtins.open = opening(builtins.open)
            io.open = opening(io.open)
            saving._exchange = stopping(saving._exchange) if exchange else (lambda first, second: False)
            model.save_pretrained(folder)
            os.write(write, str(next(counter)).encode())
        except BaseException:
            os.write(write, traceback.format_exc().encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True, None
    assert os.WEXITSTATUS(status) == 0, said
    return False, int(said)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child")
def test_a_save_killed_at_any_file_operation_leaves_the_old_or_the_new_checkpoint(old_and_new, tmp_path, swap):
    old, new = old_and_new
    template = tmp_path / "template" / "ckpt"
    old.save_pretrained(template)
    write_user_files(template)
    scratch = tmp_path / "count" / "ckpt"  # a save that runs through, to count its file operations
    shutil.copytree(template, scratch)
    killed, operations = _save_in_a_child(new, scratch, -1, swap == "exchange")
    assert not killed and operations > 5
    seen, recovered = [], 0
    for step in range(operations + 1):
        folder = tmp_path / f"kill-{step}" / "ckpt"
        shutil.copytree(template, folder)
        killed, _ = _save_in_a_child(new, folder, step, swap == "exchange")
        assert killed == (step < operations), f"killed before file operation {step} of {operations}: {killed}"
        recovered += not folder.exists()  # only between the two renames of the fallback
        seen.append(which(MTDNNForMultiTask.from_pretrained(folder), old, new))  # loads put back what was set aside
        assert_user_files(folder)
        new.save_pretrained(folder)  # the next save completes and cleans up
        assert leftovers(folder) == [], f"killed before file operation {step}"
        assert_user_files(folder)
        assert set(json.loads((folder / "config.json").read_text())["tasks"]) == set(new.config.tasks)
    # Killed early, the old checkpoint; late, the new one; never anything else (`which` fails on a mix).
    assert seen[0] == "old" and seen[-1] == "new"
    assert seen == sorted(seen, key=["old", "new"].index), seen
    assert recovered == (1 if swap == "two renames" else 0)


# ----------------------------------------------------------------- item 4: complete before older ones are rotated
@pytest.mark.parametrize("bregman", [False, True])
def test_older_checkpoints_are_deleted_only_once_the_new_one_is_complete(tokenizer, tmp_path, monkeypatch, bregman):
    out = tmp_path / "out"
    extra = {"bregman_weight": 0.5} if bregman else {}
    trainer = make_trainer(tokenizer, out, max_steps=6, save_strategy="steps", save_steps=2, save_total_limit=1, **extra)  # fmt: skip
    seen = []
    rmtree = shutil.rmtree

    def recording(path, *args, **kwargs):  # the moment a kill right after the deletion would leave
        if re.fullmatch(r"checkpoint-\d+", Path(path).name) and Path(path).parent == out:
            newest = max(
                (folder for folder in out.glob("checkpoint-*") if folder != Path(path)),
                key=lambda folder: int(folder.name.split("-")[1]),
            )
            seen.append((Path(path).name, newest.name, sorted(entry.name for entry in newest.iterdir())))
        return rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", recording)
    trainer.train()
    assert [(deleted, newest) for deleted, newest, _ in seen] == [("checkpoint-2", "checkpoint-4"), ("checkpoint-4", "checkpoint-6")]  # fmt: skip
    complete = {SAMPLER_STATE_FILE, "trainer_state.json", "model.safetensors", "optimizer.pt"}
    complete |= {PROXIMAL_FILE} if bregman else set()
    for _, newest, files in seen:
        assert complete <= set(files), (newest, files)
    assert sorted(path.name for path in out.iterdir() if path.name.startswith("checkpoint-")) == ["checkpoint-6"]


# ----------------------------------------------------------------------- item 5: --overwrite_output_dir
def test_overwrite_removes_the_earlier_runs_checkpoints_and_outputs_and_nothing_else(tmp_path, caplog):
    out = tmp_path / "out"
    earlier = [
        "checkpoint-2/model.safetensors",
        "checkpoint-4/trainer_state.json",
        ".checkpoint-6.saving-abc123/config.json",
        "eval_results.json",
        "all_results.json",
        "trainer_state.json",
        "predictions/rte.tsv",
        "predictions/squad.json",
        "glue_submission/RTE.tsv",
        "adapters/rte/adapter_config.json",
    ]
    kept = [
        "config.json",  # replaced by the new run's save; it may be the run's --init_from
        "model.safetensors",
        "notes.txt",
        "checkpoint-best/config.json",
        "predictions/README.md",
        "adapters/mine/weights.bin",
        "runs/events.out",
        "checkpoint-8/config.json",  # the run reads from it (keep)
    ]
    for name in earlier + kept:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    args = MTDNNTrainingArguments(output_dir=str(out), do_train=True, overwrite_output_dir=True, report_to=[])
    with caplog.at_level(logging.WARNING, logger="run_mtdnn"):
        check_output_dir(args, keep=(str(out / "checkpoint-8"), None))
    assert sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()) == sorted(kept)
    assert not (out / "glue_submission").exists()
    assert get_last_checkpoint(str(out)) == str(out / "checkpoint-8")  # only the one the run reads from
    assert f"--overwrite_output_dir: removed the earlier run's .checkpoint-6.saving-abc123, all_results.json, checkpoint-2, checkpoint-4, eval_results.json, trainer_state.json, predictions/rte.tsv, predictions/squad.json, glue_submission/RTE.tsv, adapters/rte from {out}." in caplog.text  # fmt: skip
    assert f"keeping {out / 'checkpoint-8'}, which this run reads from" in caplog.text

    # Without --overwrite_output_dir, a folder with checkpoints is refused and nothing is touched.
    args = MTDNNTrainingArguments(output_dir=str(out), do_train=True, report_to=[])
    with pytest.raises(ValueError, match=re.escape(f"--output_dir '{out}' already holds ['checkpoint-8', 'config.json', 'model.safetensors'] of an earlier run.")):  # fmt: skip
        check_output_dir(args)
    assert (out / "checkpoint-8" / "config.json").exists()


def test_overwrite_with_resume_keeps_the_checkpoints_it_resumes_from(tmp_path):
    out = tmp_path / "out"
    (out / "checkpoint-2").mkdir(parents=True)
    (out / "eval_results.json").write_text("{}")
    args = MTDNNTrainingArguments(
        output_dir=str(out), do_train=True, overwrite_output_dir=True, resume_from_checkpoint="true", report_to=[]
    )
    check_output_dir(args)
    assert sorted(path.name for path in out.iterdir()) == ["checkpoint-2"]


def test_a_run_with_overwrite_does_not_resume_the_earlier_run(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    out = tmp_path / "out"
    make_trainer(tokenizer, out, max_steps=4, save_strategy="steps", save_steps=4, data=data).train()
    assert get_last_checkpoint(str(out)) == str(out / "checkpoint-4")
    args = MTDNNTrainingArguments(output_dir=str(out), do_train=True, overwrite_output_dir=True, report_to=[])
    check_output_dir(args)
    assert get_last_checkpoint(str(out)) is None

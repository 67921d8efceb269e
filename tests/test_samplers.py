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
"""Tests of `MultiTaskBatchSampler`: one task per batch, the four strategies, sharding across ranks, checkpoints."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import torch
from accelerate.data_loader import BatchSamplerShard, prepare_data_loader
from torch.utils.data import ConcatDataset, DataLoader, TensorDataset

from mtdnn.training.samplers import SAMPLING_STRATEGIES, MultiTaskBatchSampler

# Sizes that leave a short last batch in every task (batch_size=4), so blocks of 2 need recycling.
SIZES = {"mnli": 23, "rte": 9, "cola": 10}
OFFSETS = {"mnli": (0, 23), "rte": (23, 32), "cola": (32, 42)}


def task_of(batch):
    return {name for name, (start, end) in OFFSETS.items() for index in batch if start <= index < end}


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
@pytest.mark.parametrize("num_replicas", [1, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_every_batch_is_one_task_and_len_is_exact(strategy, num_replicas, drop_last):
    sampler = MultiTaskBatchSampler(
        SIZES, batch_size=4, strategy=strategy, num_replicas=num_replicas, drop_last=drop_last, num_epochs=3
    )
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert len(sampler) % num_replicas == 0
        assert all(len(task_of(batch)) == 1 for batch in batches)
        assert all(1 <= len(batch) <= 4 for batch in batches)
        if drop_last:
            assert all(len(batch) == 4 for batch in batches)
        assert all(len(set(batch)) == len(batch) for batch in batches)
        assert [sampler.task_of_index(batch[0]) for batch in batches] == sampler.batch_tasks()


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
def test_len_is_the_proportional_number_of_batches(strategy):
    # ceil(23 / 4) + ceil(9 / 4) + ceil(10 / 4) = 6 + 3 + 3; blocks of 2: 6 + 4 + 4; drop_last and blocks of 2: 4 + 2 + 2.
    assert len(MultiTaskBatchSampler(SIZES, 4, strategy=strategy)) == 12
    assert len(MultiTaskBatchSampler(SIZES, 4, strategy=strategy, num_replicas=2)) == 14
    assert len(MultiTaskBatchSampler(SIZES, 4, strategy=strategy, num_replicas=2, drop_last=True)) == 8


def test_proportional_covers_every_example_exactly_once_per_epoch():
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        indices = [index for batch in sampler for index in batch]
        assert sorted(indices) == list(range(42))
        assert Counter(sampler.batch_tasks()) == {"mnli": 6, "rte": 3, "cola": 3}


def test_proportional_drop_last_drops_only_the_short_batch():
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4, drop_last=True)
    indices = [index for batch in sampler for index in batch]
    assert len(indices) == len(set(indices)) == 20 + 8 + 8
    assert Counter(sampler.batch_tasks()) == {"mnli": 5, "rte": 2, "cola": 2}


def test_blocks_are_completed_with_batches_recycled_from_the_start_of_the_pass():
    sampler = MultiTaskBatchSampler({"only": 5}, batch_size=2, num_replicas=2)
    batches = list(sampler)
    assert [len(batch) for batch in batches] == [2, 2, 1, 2]
    assert sorted(index for batch in batches[:3] for index in batch) == [0, 1, 2, 3, 4]
    assert batches[3] == batches[0]
    tiny = list(MultiTaskBatchSampler({"big": 8, "tiny": 1}, batch_size=2, num_replicas=4))
    assert [batch for batch in tiny if batch[0] == 8] == [[8]] * 4


def test_temperature_matches_the_formula_over_a_long_epoch():
    sizes = {"big": 10000, "mid": 1000, "small": 100}
    sampler = MultiTaskBatchSampler(sizes, batch_size=1, strategy="temperature", temperature=2.0)
    expected = {name: size**0.5 / sum(s**0.5 for s in sizes.values()) for name, size in sizes.items()}
    assert sampler.task_probabilities() == pytest.approx(expected)
    assert sampler.size_exponent == 0.5
    counts = Counter(sampler.batch_tasks())
    assert sum(counts.values()) == len(sampler) == 11100
    for name in sizes:
        assert counts[name] / len(sampler) == pytest.approx(expected[name], abs=0.02)


def test_temperature_restarts_the_pass_of_an_exhausted_task():
    sampler = MultiTaskBatchSampler({"big": 1000, "small": 10}, batch_size=1, strategy="temperature", temperature=100)
    small = [batch[0] for batch in sampler if batch[0] >= 1000]
    assert len(small) > 100
    for start in range(0, len(small) - 10 + 1, 10):
        assert sorted(small[start : start + 10]) == list(range(1000, 1010))
    assert small[:10] != small[10:20]


def test_uniform_alternates_the_tasks_in_order():
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4, strategy="uniform")
    assert sampler.batch_tasks() == ["mnli", "rte", "cola"] * 4
    replicated = MultiTaskBatchSampler(SIZES, batch_size=4, strategy="uniform", num_replicas=2)
    assert replicated.batch_tasks() == ["mnli", "mnli", "rte", "rte", "cola", "cola"] * 2 + ["mnli", "mnli"]
    assert sampler.task_probabilities() == pytest.approx({"mnli": 1 / 3, "rte": 1 / 3, "cola": 1 / 3})


@pytest.mark.parametrize(
    "epoch, alpha",
    [(0, 1.0), (1, 0.8), (2, 0.6), (4, 0.2), (9, 0.2)],
)
def test_annealed_alpha_goes_from_proportional_to_nearly_uniform(epoch, alpha):
    sizes = {"big": 1000, "small": 10}
    sampler = MultiTaskBatchSampler(sizes, batch_size=10, strategy="annealed", num_epochs=5)
    sampler.set_epoch(epoch)
    assert sampler.size_exponent == pytest.approx(alpha)
    total = 1000**alpha + 10**alpha
    assert sampler.task_probabilities() == pytest.approx({"big": 1000**alpha / total, "small": 10**alpha / total})


def test_annealed_first_epoch_is_proportional_and_last_is_flatter():
    sizes = {"big": 5000, "small": 50}
    sampler = MultiTaskBatchSampler(sizes, batch_size=1, strategy="annealed", num_epochs=3)
    first = Counter(sampler.batch_tasks())["small"] / len(sampler)
    sampler.set_epoch(2)
    last = Counter(sampler.batch_tasks())["small"] / len(sampler)
    assert first == pytest.approx(50 / 5050, abs=0.01)
    assert last == pytest.approx(50**0.2 / (5000**0.2 + 50**0.2), abs=0.03)


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
def test_same_seed_and_epoch_repeat_and_other_epochs_or_seeds_differ(strategy):
    def epoch_batches(seed, epoch):
        sampler = MultiTaskBatchSampler(SIZES, batch_size=4, strategy=strategy, seed=seed, num_epochs=3)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert epoch_batches(7, 1) == epoch_batches(7, 1)
    assert epoch_batches(7, 1) != epoch_batches(7, 2)
    assert epoch_batches(7, 1) != epoch_batches(8, 1)


def test_iterating_twice_yields_the_same_epoch():
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4, strategy="temperature")
    assert list(sampler) == list(sampler)


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
def test_two_replicas_get_blocks_of_one_task_and_agree_at_every_step(strategy):
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4, strategy=strategy, num_replicas=2)
    tasks = sampler.batch_tasks()
    assert len(sampler) % 2 == 0
    assert all(tasks[k] == tasks[k + 1] for k in range(0, len(tasks), 2))
    batches = list(sampler)
    rank_tasks = [[sampler.task_of_index(batch[0]) for batch in batches[rank::2]] for rank in range(2)]
    assert rank_tasks[0] == rank_tasks[1]


# cola's pass is 4 + 4 + 4 + 2: its short batch ends a block in the middle of the epoch, where a `BatchSamplerShard`
# that read an int `batch_size` would drop the whole step.
SHARD_SIZES = {"mnli": 23, "rte": 9, "cola": 14}


@pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
@pytest.mark.parametrize("even_batches", [False, True])
def test_accelerate_batch_sampler_shard_keeps_ranks_on_the_same_task(strategy, even_batches):
    sampler = MultiTaskBatchSampler(SHARD_SIZES, batch_size=4, strategy=strategy, num_replicas=2, seed=3)
    shards = [
        BatchSamplerShard(sampler, num_processes=2, process_index=rank, split_batches=False, even_batches=even_batches)
        for rank in range(2)
    ]
    per_rank = [list(shard) for shard in shards]
    assert len(per_rank[0]) == len(per_rank[1]) == len(shards[0]) == len(sampler) // 2
    for step, (batch0, batch1) in enumerate(zip(*per_rank)):
        assert sampler.task_of_index(batch0[0]) == sampler.task_of_index(batch1[0]), f"step {step}"
    # Nothing dropped or padded: the short batches in the middle of the epoch reach their rank too.
    assert sorted(map(tuple, per_rank[0] + per_rank[1])) == sorted(map(tuple, sampler))


def test_accelerate_prepared_dataloaders_agree_per_step_and_forward_the_epoch():
    datasets = [TensorDataset(torch.full((size,), t)) for t, size in enumerate(SHARD_SIZES.values())]
    samplers, loaders = [], []
    for rank in range(2):
        samplers.append(MultiTaskBatchSampler(SHARD_SIZES, batch_size=4, strategy="temperature", num_replicas=2))
        loader = DataLoader(ConcatDataset(datasets), batch_sampler=samplers[rank])
        loaders.append(prepare_data_loader(loader, num_processes=2, process_index=rank, put_on_device=False))
    epochs = []
    for epoch in range(2):
        per_rank = []
        for loader in loaders:
            loader.set_epoch(epoch)
            per_rank.append([batch[0].unique().tolist() for batch in loader])
        assert per_rank[0] == per_rank[1]
        assert all(len(tasks) == 1 for tasks in per_rank[0])
        epochs.append(per_rank[0])
    assert [sampler.epoch for sampler in samplers] == [1, 1]
    assert epochs[0] != epochs[1]


def test_batches_index_a_concat_dataset_through_a_dataloader():
    datasets = [TensorDataset(torch.full((size,), t)) for t, size in enumerate(SIZES.values())]
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4, strategy="uniform")
    loader = DataLoader(ConcatDataset(datasets), batch_sampler=sampler)
    tasks = [batch[0].unique().tolist() for batch in loader]
    assert tasks == [[0], [1], [2]] * 4


def test_task_of_index():
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4)
    assert [sampler.task_of_index(i) for i in (0, 22, 23, 31, 32, 41)] == [
        "mnli",
        "mnli",
        "rte",
        "rte",
        "cola",
        "cola",
    ]
    with pytest.raises(
        ValueError,
        match=re.escape("MultiTaskBatchSampler: argument 'global_index' must be an int in [0, 42), got 42."),
    ):
        sampler.task_of_index(42)


def test_state_dict_is_json_and_round_trips():
    kwargs = {"strategy": "annealed", "num_epochs": 4, "seed": 5, "num_replicas": 2}
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4, **kwargs)
    sampler.set_epoch(3)
    state = json.loads(json.dumps(sampler.state_dict()))
    assert state == {
        "strategy": "annealed",
        "seed": 5,
        "epoch": 3,
        "batch_size": 4,
        "task_sizes": SIZES,
        "temperature": 2.0,
        "num_epochs": 4,
        "num_replicas": 2,
        "drop_last": False,
        "lengths_digest": None,
        "mega_batch_mult": None,
    }
    resumed = MultiTaskBatchSampler(SIZES, batch_size=4, **kwargs)
    resumed.load_state_dict(state)
    assert resumed.epoch == 3
    assert list(resumed) == list(sampler)


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"task_sizes": {"mnli": 23, "rte": 9, "cola": 11}},
            "MultiTaskBatchSampler: cannot load the state, field 'task_sizes' is {'mnli': 23, 'rte': 9, 'cola': 10} in the state but {'mnli': 23, 'rte': 9, 'cola': 11} in this sampler; build the sampler with the settings of the checkpoint.",
        ),
        (
            {"task_sizes": {"rte": 9, "mnli": 23, "cola": 10}},
            "MultiTaskBatchSampler: cannot load the state, field 'task_sizes' is {'mnli': 23, 'rte': 9, 'cola': 10} in the state but {'rte': 9, 'mnli': 23, 'cola': 10} in this sampler; build the sampler with the settings of the checkpoint.",
        ),
        (
            {"seed": 43},
            "MultiTaskBatchSampler: cannot load the state, field 'seed' is 42 in the state but 43 in this sampler; build the sampler with the settings of the checkpoint.",
        ),
        (
            {"num_replicas": 2},
            "MultiTaskBatchSampler: cannot load the state, field 'num_replicas' is 1 in the state but 2 in this sampler; build the sampler with the settings of the checkpoint.",
        ),
    ],
)
def test_load_state_dict_refuses_other_settings(changes, message):
    state = json.loads(json.dumps(MultiTaskBatchSampler(SIZES, batch_size=4).state_dict()))
    sampler = MultiTaskBatchSampler(**{"task_sizes": SIZES, "batch_size": 4, **changes})
    with pytest.raises(ValueError, match=re.escape(message)):
        sampler.load_state_dict(state)


def test_load_state_dict_refuses_a_state_missing_fields():
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "MultiTaskBatchSampler: the state to load lacks the field(s) ['epoch']; expected the fields ['strategy', 'seed', 'epoch', 'batch_size', 'task_sizes', 'temperature', 'num_epochs', 'num_replicas', 'drop_last', 'lengths_digest', 'mega_batch_mult'] of MultiTaskBatchSampler.state_dict()."
        ),
    ):
        sampler.load_state_dict({key: value for key, value in sampler.state_dict().items() if key != "epoch"})


def test_batch_size_attribute_tells_accelerate_whether_batches_vary():
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4)
    assert sampler.batch_size is None
    assert sampler.max_batch_size == 4
    assert sampler.sampler is sampler
    assert MultiTaskBatchSampler(SIZES, batch_size=4, drop_last=True).batch_size == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"strategy": "random"},
            "MultiTaskBatchSampler: argument 'strategy' must be one of ['proportional', 'temperature', 'uniform', 'annealed'], got 'random'.",
        ),
        ({"batch_size": 0}, "MultiTaskBatchSampler: argument 'batch_size' must be an int >= 1, got 0."),
        ({"batch_size": 2.0}, "MultiTaskBatchSampler: argument 'batch_size' must be an int >= 1, got 2.0."),
        (
            {"task_sizes": {}},
            "MultiTaskBatchSampler: argument 'task_sizes' must be a non-empty dict mapping each task name to its number of examples, got {}.",
        ),
        (
            {"task_sizes": {"a": 3, "b": 0}},
            "MultiTaskBatchSampler: argument 'task_sizes' must be a dict of positive ints (each task's number of examples), got 0 for task 'b'.",
        ),
        (
            {"task_sizes": {"a": 3, 1: 3}},
            "MultiTaskBatchSampler: argument 'task_sizes' must be a dict whose keys are non-empty task names (strings), got {'a': 3, 1: 3}.",
        ),
        ({"temperature": 0}, "MultiTaskBatchSampler: argument 'temperature' must be a finite number > 0, got 0."),
        (
            {"temperature": -1.5},
            "MultiTaskBatchSampler: argument 'temperature' must be a finite number > 0, got -1.5.",
        ),
        (
            {"num_replicas": 0},
            "MultiTaskBatchSampler: argument 'num_replicas' must be an int >= 1 (the data-parallel world size), got 0.",
        ),
        ({"num_epochs": 0}, "MultiTaskBatchSampler: argument 'num_epochs' must be an int >= 1, got 0."),
        ({"seed": "42"}, "MultiTaskBatchSampler: argument 'seed' must be an int, got '42'."),
        ({"drop_last": 1}, "MultiTaskBatchSampler: argument 'drop_last' must be a bool, got 1."),
        (
            {"batch_size": 4, "drop_last": True, "num_replicas": 2},
            "MultiTaskBatchSampler: argument 'task_sizes' must be at least batch_size * num_replicas = 8 examples per task with drop_last=True (else the task never gets a batch), got 5 for task 'b'.",
        ),
    ],
)
def test_invalid_arguments_are_refused(kwargs, message):
    arguments = {"task_sizes": {"a": 10, "b": 5}, "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        MultiTaskBatchSampler(**arguments)


@pytest.mark.parametrize("epoch", [-1, 1.0])
def test_set_epoch_refuses_bad_epochs(epoch):
    sampler = MultiTaskBatchSampler(SIZES, batch_size=4)
    with pytest.raises(
        ValueError, match=re.escape(f"MultiTaskBatchSampler: argument 'epoch' must be an int >= 0, got {epoch!r}.")
    ):
        sampler.set_epoch(epoch)


def lengths_of(sizes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {name: (torch.randint(3, 120, (size,), generator=generator)).tolist() for name, size in sizes.items()}


def padded_tokens(batches, lengths, sampler):
    total = 0
    for batch in batches:
        task = sampler.task_of_index(batch[0])
        local = [lengths[task][i - sampler._offsets[sampler.task_names.index(task)]] for i in batch]
        total += max(local) * len(local)
    return total


@pytest.mark.parametrize("num_replicas", [1, 2])
def test_group_by_length_pads_less_and_keeps_every_other_property(num_replicas):
    sizes = {"mnli": 400, "rte": 150, "cola": 250}
    lengths = lengths_of(sizes)
    plain = MultiTaskBatchSampler(sizes, batch_size=8, seed=3, num_replicas=num_replicas)
    grouped = MultiTaskBatchSampler(sizes, batch_size=8, seed=3, num_replicas=num_replicas, lengths=lengths)
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        grouped.set_epoch(epoch)
        batches = list(grouped)
        assert grouped.batch_tasks() == plain.batch_tasks()  # the same task at every step
        assert len(batches) == len(grouped) == len(plain)
        assert all(len({grouped.task_of_index(i) for i in batch}) == 1 for batch in batches)
        if num_replicas == 1:  # proportional: every example exactly once per epoch
            assert sorted(i for batch in batches for i in batch) == list(range(sum(sizes.values())))
        assert padded_tokens(batches, lengths, grouped) < 0.8 * padded_tokens(list(plain), lengths, plain)
        assert list(grouped) == batches  # seeded: the same epoch twice
    grouped.set_epoch(0)
    epoch0 = list(grouped)
    grouped.set_epoch(1)
    assert list(grouped) != epoch0


def test_mega_batch_mult_sets_the_length_groups():
    sizes = {"mnli": 400, "rte": 150}
    lengths = lengths_of(sizes)
    default = MultiTaskBatchSampler(sizes, batch_size=8, seed=3, lengths=lengths)
    whole = MultiTaskBatchSampler(sizes, batch_size=8, seed=3, lengths=lengths, mega_batch_mult=50)
    assert whole.batch_tasks() == default.batch_tasks()
    # One mega-batch per task (50 batches >= each task): a task's batches, in order, read its lengths sorted.
    batches = list(whole)
    for task in sizes:
        offset = whole._offsets[whole.task_names.index(task)]
        seen = [lengths[task][i - offset] for batch in batches if whole.task_of_index(batch[0]) == task for i in batch]
        assert seen == sorted(lengths[task], reverse=True)
    assert padded_tokens(batches, lengths, whole) <= padded_tokens(list(default), lengths, default)
    assert whole.state_dict()["mega_batch_mult"] == 50
    with pytest.raises(ValueError, match=re.escape("field 'mega_batch_mult' is 50 in the state but None")):
        default.load_state_dict(whole.state_dict())
    partial = {key: value for key, value in default.state_dict().items() if key != "mega_batch_mult"}
    with pytest.raises(ValueError, match=re.escape("the state to load lacks the field(s) ['mega_batch_mult']")):
        default.load_state_dict(partial)
    with pytest.raises(ValueError, match=re.escape("argument 'mega_batch_mult' must be None without `lengths`")):
        MultiTaskBatchSampler(sizes, batch_size=8, mega_batch_mult=4)
    with pytest.raises(ValueError, match=re.escape("argument 'mega_batch_mult' must be None (transformers' rule) or an int >= 1, got 0.")):  # fmt: skip
        MultiTaskBatchSampler(sizes, batch_size=8, lengths=lengths, mega_batch_mult=0)


def test_group_by_length_state_checks_the_lengths():
    sizes = {"rte": 30, "cola": 20}
    sampler = MultiTaskBatchSampler(sizes, batch_size=4, lengths=lengths_of(sizes))
    sampler.set_epoch(2)
    state = json.loads(json.dumps(sampler.state_dict()))
    assert state["lengths_digest"].startswith("sha256:")
    resumed = MultiTaskBatchSampler(sizes, batch_size=4, lengths=lengths_of(sizes))
    resumed.load_state_dict(state)
    assert list(resumed) == list(sampler)
    other = MultiTaskBatchSampler(sizes, batch_size=4, lengths=lengths_of(sizes, seed=1))
    with pytest.raises(ValueError, match=re.escape("field 'lengths_digest' is")):
        other.load_state_dict(state)
    ungrouped = MultiTaskBatchSampler(sizes, batch_size=4)
    with pytest.raises(ValueError, match=re.escape("field 'lengths_digest' is 'sha256:")):
        ungrouped.load_state_dict(state)
    partial = {key: value for key, value in ungrouped.state_dict().items() if key != "lengths_digest"}
    with pytest.raises(ValueError, match=re.escape("the state to load lacks the field(s) ['lengths_digest']")):
        ungrouped.load_state_dict(partial)


@pytest.mark.parametrize(
    "lengths, message",
    [
        ({"cola": [3] * 10, "rte": [3] * 9, "mnli": [3] * 23}, "argument 'lengths' must be a dict over the tasks ['mnli', 'rte', 'cola'], in that order, got ['cola', 'rte', 'mnli']."),
        ({"mnli": [3] * 23, "rte": [3] * 8, "cola": [3] * 10}, "argument 'lengths' must be 9 positive ints (one length per example), got '8 values' for task 'rte'."),
        ({"mnli": [3] * 23, "rte": [3] * 8 + [0], "cola": [3] * 10}, "argument 'lengths' must be 9 positive ints (one length per example), got '9 values' for task 'rte'."),
    ],
)  # fmt: skip
def test_bad_lengths_are_refused(lengths, message):
    with pytest.raises(ValueError, match=re.escape(f"MultiTaskBatchSampler: {message}")):
        MultiTaskBatchSampler(SIZES, batch_size=4, lengths=lengths)

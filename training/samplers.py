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
"""Multi-task batch sampler: every mini-batch from one task, tasks mixed by a sampling strategy, DDP-safe."""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler
from transformers.trainer_pt_utils import get_length_grouped_indices

__all__ = ["SAMPLING_STRATEGIES", "MultiTaskBatchSampler"]

SAMPLING_STRATEGIES = ("proportional", "temperature", "uniform", "annealed")

# The settings a checkpointed state must share with the sampler it is loaded into (everything but the epoch).
_SETTINGS = (
    "strategy",
    "seed",
    "batch_size",
    "task_sizes",
    "temperature",
    "num_epochs",
    "num_replicas",
    "drop_last",
    "lengths_digest",
    "mega_batch_mult",
)


def _fail(argument: str, value: Any, allowed: str, task: str | None = None) -> ValueError:
    where = "" if task is None else f" for task '{task}'"
    return ValueError(f"MultiTaskBatchSampler: argument '{argument}' must be {allowed}, got {value!r}{where}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class MultiTaskBatchSampler(Sampler[list[int]]):
    """
    Yields the mini-batches of several tasks for one `ConcatDataset` of their datasets: every batch holds the indices
    of ONE task only, and a strategy decides in which order the tasks take turns.

    The datasets are concatenated in the order of `task_sizes`, so example `i` of task `t` has the global index
    `offset[t] + i`, where `offset[t]` is the number of examples of the tasks before `t`. Within an epoch each task's
    examples are shuffled and cut into batches of `batch_size` (the last one shorter unless `drop_last`); one such
    shuffled run over a task is a *pass*.

    Strategies (all yield the same number of batches per epoch, `len(sampler)`):

    - `"proportional"` (MT-DNN, Liu et al. 2019): every batch of every task exactly once per epoch, in a shuffled
      order, so a task trains in proportion to its size.
    - `"temperature"`: each step draws a task with probability proportional to `size ** (1 / temperature)`
      (`temperature=1` is proportional in expectation, a large one nearly uniform).
    - `"uniform"`: round-robin over the tasks in the order of `task_sizes`.
    - `"annealed"` (Stickland & Murray 2019): like `"temperature"` with probability proportional to `size ** alpha`,
      `alpha = 1 - 0.8 * min(epoch / max(num_epochs - 1, 1), 1)`: proportional in the first epoch, `size ** 0.2`
      from the last annealing epoch on.

    Under the last three a task can be drawn more often than it has batches: its pass then restarts with a fresh
    shuffle (small tasks are up-sampled), and a big task may not finish its pass within the epoch (down-sampled).

    Distributed training: with `num_replicas=N` the batches come in blocks of `N` consecutive batches of the same
    task, and the strategy picks a task per block (a *step*). accelerate's `BatchSamplerShard` (`split_batches=False`,
    what `Accelerator.prepare` uses) gives batch `k` to rank `k % N`, so at every step all ranks train the same task
    and the gradients of one head meet in the all-reduce. To fill whole blocks, a pass over a task holds a multiple of
    `N` batches: without `drop_last` an incomplete last block is completed with batches recycled from the start of
    the same pass (a few examples are seen twice per pass); with `drop_last` it is dropped. `len(sampler)` is
    therefore always a multiple of `N`. Build one sampler with the same arguments on every rank and let accelerate
    shard it (keep `split_batches=False`); do not shard it yourself. `batch_size` reads `None` unless `drop_last`,
    which tells accelerate that batches vary in size (a task's last batch is shorter), so it neither drops nor pads
    them; the configured size is `max_batch_size`.

    Every epoch's batches are a function of `seed + epoch` only: call [`~MultiTaskBatchSampler.set_epoch`] at the
    start of each epoch. accelerate's `DataLoaderShard.set_epoch` reaches it on every rank (through the `sampler`
    alias once wrapped in a `BatchSamplerShard`), and `DataLoaderShard` calls it at each `iter` with its own count.

    Args:
        task_sizes (`dict[str, int]`):
            The number of examples of each task, in the order of the datasets in the `ConcatDataset`.
        batch_size (`int`):
            The number of examples of a batch (the last batch of a task's pass may be shorter unless `drop_last`).
        strategy (`str`, *optional*, defaults to `"proportional"`):
            One of `"proportional"`, `"temperature"`, `"uniform"` and `"annealed"` (see above).
        temperature (`float`, *optional*, defaults to 2.0):
            The temperature `T` of `"temperature"`: the probability of a task is proportional to `size ** (1 / T)`.
        num_epochs (`int`, *optional*, defaults to 1):
            The number of epochs over which `"annealed"` anneals; later epochs keep the final `alpha = 0.2`.
        seed (`int`, *optional*, defaults to 42):
            The seed of the shuffles and draws; epoch `e` uses a `torch.Generator` seeded with `seed + e`.
        drop_last (`bool`, *optional*, defaults to `False`):
            Whether to drop the last incomplete batch of each pass (and, with `num_replicas > 1`, its last incomplete
            block) instead of keeping (completing) it.
        num_replicas (`int`, *optional*, defaults to 1):
            The data-parallel world size, i.e. the number of consecutive batches of one task per step.
        lengths (`dict[str, Sequence[int]]`, *optional*):
            Each task's example lengths (tokens), to form batches of similar lengths within each task, as the
            Trainer's `group_by_length` does (`transformers.trainer_pt_utils.get_length_grouped_indices`): a pass
            shuffles the task's examples, cuts them into mega-batches of up to 50 batches, sorts each by length
            and puts the longest batch first. Less padding, the same number of batches, still seeded by
            `seed + epoch`; the task order of the steps is unchanged.
        mega_batch_mult (`int`, *optional*):
            With `lengths`, the number of batches of a mega-batch. By default transformers' rule, applied to each
            task: `min(task_size // (4 * batch_size), 50)`, so a task smaller than 200 batches is cut into at least
            4 mega-batches (more shuffling, more padding); a larger value pads less and shuffles less.

    Raises:
        `ValueError`: naming the argument, the value received and what is allowed.

    Example:

    ```python
    >>> from mtdnn.training.samplers import MultiTaskBatchSampler

    >>> sampler = MultiTaskBatchSampler({"cola": 5, "sst2": 3}, batch_size=2, strategy="uniform")
    >>> len(sampler), sampler.batch_tasks()
    (5, ['cola', 'sst2', 'cola', 'sst2', 'cola'])
    >>> sorted(len(batch) for batch in sampler)
    [1, 1, 2, 2, 2]
    >>> sampler.task_of_index(6)
    'sst2'

    ```
    """

    def __init__(
        self,
        task_sizes: Mapping[str, int],
        batch_size: int,
        strategy: str = "proportional",
        temperature: float = 2.0,
        num_epochs: int = 1,
        seed: int = 42,
        drop_last: bool = False,
        num_replicas: int = 1,
        lengths: Mapping[str, Sequence[int]] | None = None,
        mega_batch_mult: int | None = None,
    ):
        super().__init__()
        if not isinstance(task_sizes, Mapping) or not task_sizes:
            raise _fail("task_sizes", task_sizes, "a non-empty dict mapping each task name to its number of examples")
        for name, size in task_sizes.items():
            if not isinstance(name, str) or not name:
                raise _fail("task_sizes", dict(task_sizes), "a dict whose keys are non-empty task names (strings)")
            if not _is_int(size) or size < 1:
                raise _fail("task_sizes", size, "a dict of positive ints (each task's number of examples)", name)
        if not _is_int(batch_size) or batch_size < 1:
            raise _fail("batch_size", batch_size, "an int >= 1")
        if strategy not in SAMPLING_STRATEGIES:
            raise _fail("strategy", strategy, f"one of {list(SAMPLING_STRATEGIES)}")
        if not _is_positive_number(temperature):
            raise _fail("temperature", temperature, "a finite number > 0")
        if not _is_int(num_epochs) or num_epochs < 1:
            raise _fail("num_epochs", num_epochs, "an int >= 1")
        if not _is_int(seed):
            raise _fail("seed", seed, "an int")
        if not isinstance(drop_last, bool):
            raise _fail("drop_last", drop_last, "a bool")
        if not _is_int(num_replicas) or num_replicas < 1:
            raise _fail("num_replicas", num_replicas, "an int >= 1 (the data-parallel world size)")
        if lengths is not None:
            if not isinstance(lengths, Mapping) or list(lengths) != list(task_sizes):
                shown = list(lengths) if isinstance(lengths, Mapping) else lengths
                raise _fail("lengths", shown, f"a dict over the tasks {list(task_sizes)}, in that order")
            for name, values in lengths.items():
                if len(values) != task_sizes[name] or not all(_is_int(v) and v > 0 for v in values):
                    wanted = f"{task_sizes[name]} positive ints (one length per example)"
                    raise _fail("lengths", f"{len(values)} values", wanted, name)
        if mega_batch_mult is not None:
            if lengths is None:
                raise _fail("mega_batch_mult", mega_batch_mult, "None without `lengths` (it sizes length groups)")
            if not _is_int(mega_batch_mult) or mega_batch_mult < 1:
                raise _fail("mega_batch_mult", mega_batch_mult, "None (transformers' rule) or an int >= 1")
        self.mega_batch_mult = mega_batch_mult
        self.lengths: dict[str, list[int]] | None = (
            None if lengths is None else {name: list(values) for name, values in lengths.items()}
        )
        self.task_sizes: dict[str, int] = dict(task_sizes)
        self.task_names: list[str] = list(self.task_sizes)
        self.max_batch_size = batch_size
        self.strategy = strategy
        self.temperature = float(temperature)
        self.num_epochs = num_epochs
        self.seed = seed
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.epoch = 0

        sizes = list(self.task_sizes.values())
        self._offsets = [sum(sizes[:t]) for t in range(len(sizes))]
        self._total_examples = sum(sizes)
        # The number of blocks (steps) of one pass over each task.
        self._blocks_per_pass = []
        for name, size in self.task_sizes.items():
            if drop_last:
                blocks = size // batch_size // num_replicas
                if blocks == 0:
                    raise _fail(
                        "task_sizes",
                        size,
                        f"at least batch_size * num_replicas = {batch_size * num_replicas} examples per task with "
                        "drop_last=True (else the task never gets a batch)",
                        name,
                    )
            else:
                num_batches = -(-size // batch_size)  # ceil, exact on ints
                blocks = -(-num_batches // num_replicas)
            self._blocks_per_pass.append(blocks)
        self._num_steps = sum(self._blocks_per_pass)

    @property
    def batch_size(self) -> int | None:
        """The size of every batch with `drop_last`, else `None` (batches vary); see `max_batch_size`."""
        return self.max_batch_size if self.drop_last else None

    @property
    def sampler(self) -> MultiTaskBatchSampler:
        """
        This sampler itself: once accelerate wraps it in a `BatchSamplerShard`, `DataLoaderShard.set_epoch` (which
        `DataLoaderShard.__iter__` also calls) only forwards the epoch to `batch_sampler.batch_sampler.sampler`, so
        this alias is what lets the epoch reach [`~MultiTaskBatchSampler.set_epoch`] on every rank.
        """
        return self

    def __len__(self) -> int:
        """The number of batches of one epoch (the same for every epoch and strategy), a multiple of `num_replicas`."""
        return self._num_steps * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch whose batches `__iter__` yields (and, for `"annealed"`, its `alpha`)."""
        if not _is_int(epoch) or epoch < 0:
            raise _fail("epoch", epoch, "an int >= 0")
        self.epoch = epoch

    @property
    def size_exponent(self) -> float:
        """
        The exponent `alpha` of the current epoch in P(task) ∝ size ** alpha: 1.0 for `"proportional"` (in
        expectation), `1 / temperature`, the annealed alpha, or 0.0 for `"uniform"`.
        """
        if self.strategy == "proportional":
            return 1.0
        if self.strategy == "temperature":
            return 1.0 / self.temperature
        if self.strategy == "uniform":
            return 0.0
        return 1.0 - 0.8 * min(self.epoch / max(self.num_epochs - 1, 1), 1.0)

    def task_probabilities(self) -> dict[str, float]:
        """
        The share of the steps of the current epoch that goes to each task: exact for `"proportional"`, the long-run
        share for `"uniform"`, the probability of each draw for `"temperature"` and `"annealed"`.
        """
        if self.strategy == "proportional":
            scores = [float(blocks) for blocks in self._blocks_per_pass]
        else:
            alpha = self.size_exponent
            scores = [size**alpha for size in self.task_sizes.values()]
        total = sum(scores)
        return {name: score / total for name, score in zip(self.task_names, scores)}

    def task_of_index(self, global_index: int) -> str:
        """The name of the task whose example has the index `global_index` in the `ConcatDataset`."""
        if not _is_int(global_index) or not 0 <= global_index < self._total_examples:
            raise _fail("global_index", global_index, f"an int in [0, {self._total_examples})")
        return self.task_names[bisect.bisect_right(self._offsets, global_index) - 1]

    def batch_tasks(self) -> list[str]:
        """The task name of each batch of the current epoch, in the order `__iter__` yields them."""
        return [self.task_names[t] for t in self._step_tasks(self._generator()) for _ in range(self.num_replicas)]

    def __iter__(self) -> Iterator[list[int]]:
        generator = self._generator()
        steps = self._step_tasks(generator)  # drawn first, so that `batch_tasks` needs no shuffle of the examples
        passes = [self._task_pass(t, generator) for t in range(len(self.task_names))]
        cursors = [0] * len(self.task_names)
        for t in steps:
            if cursors[t] == len(passes[t]):
                passes[t], cursors[t] = self._task_pass(t, generator), 0
            for _ in range(self.num_replicas):
                yield list(passes[t][cursors[t]])
                cursors[t] += 1

    def state_dict(self) -> dict[str, Any]:
        """The epoch and every setting that determines the batches, as plain JSON-able values."""
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "epoch": self.epoch,
            "batch_size": self.max_batch_size,
            "task_sizes": dict(self.task_sizes),
            "temperature": self.temperature,
            "num_epochs": self.num_epochs,
            "num_replicas": self.num_replicas,
            "drop_last": self.drop_last,
            "lengths_digest": self._lengths_digest(),
            "mega_batch_mult": self.mega_batch_mult,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """
        Restores the epoch of a [`~MultiTaskBatchSampler.state_dict`].

        Raises:
            `ValueError`: when a field is missing or a setting differs from this sampler's (for instance the tasks or
            their sizes changed since the checkpoint), naming the field and both values.
        """
        if not isinstance(state, Mapping):
            raise _fail("state", state, "a dict returned by MultiTaskBatchSampler.state_dict()")
        current = self.state_dict()
        missing = [field for field in current if field not in state]
        if missing:
            raise ValueError(
                f"MultiTaskBatchSampler: the state to load lacks the field(s) {missing}; "
                f"expected the fields {list(current)} of MultiTaskBatchSampler.state_dict()."
            )
        for field in _SETTINGS:
            saved, ours = state[field], current[field]
            # Compare dicts as ordered items: the order of the tasks is the order of the ConcatDataset.
            if isinstance(saved, Mapping) and isinstance(ours, Mapping):
                differs = list(saved.items()) != list(ours.items())
            else:
                differs = saved != ours
            if differs:
                raise ValueError(
                    f"MultiTaskBatchSampler: cannot load the state, field '{field}' is {saved!r} in the state but "
                    f"{ours!r} in this sampler; build the sampler with the settings of the checkpoint."
                )
        self.set_epoch(state["epoch"])

    def _lengths_digest(self) -> str | None:
        """A digest of the example lengths when batches are grouped by length (they shape every batch)."""
        if self.lengths is None:
            return None
        digest = hashlib.sha256(repr(list(self.lengths.items())).encode()).hexdigest()
        return f"sha256:{digest[:16]}"

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + self.epoch)

    def _step_tasks(self, generator: torch.Generator) -> list[int]:
        """The task index of each step (block of `num_replicas` batches) of the epoch."""
        num_tasks, num_steps = len(self.task_names), self._num_steps
        if self.strategy == "proportional":
            tasks = [t for t, blocks in enumerate(self._blocks_per_pass) for _ in range(blocks)]
            return [tasks[i] for i in torch.randperm(num_steps, generator=generator).tolist()]
        if self.strategy == "uniform":
            return [k % num_tasks for k in range(num_steps)]
        probabilities = torch.tensor(list(self.task_probabilities().values()), dtype=torch.float64)
        return torch.multinomial(probabilities, num_steps, replacement=True, generator=generator).tolist()

    def _task_pass(self, t: int, generator: torch.Generator) -> list[list[int]]:
        """One pass over task `t`: its examples shuffled and cut into batches, a multiple of `num_replicas` of them."""
        name = self.task_names[t]
        size, batch_size, replicas = self.task_sizes[name], self.max_batch_size, self.num_replicas
        if self.lengths is None:
            order = (torch.randperm(size, generator=generator) + self._offsets[t]).tolist()
        else:  # the Trainer's length grouping, on this task's examples, with this epoch's generator
            grouped = get_length_grouped_indices(
                self.lengths[name], batch_size, mega_batch_mult=self.mega_batch_mult, generator=generator
            )
            order = [self._offsets[t] + int(i) for i in grouped]
        batches = [order[start : start + batch_size] for start in range(0, size, batch_size)]
        if self.drop_last:
            if len(batches[-1]) < batch_size:
                batches.pop()
            del batches[len(batches) // replicas * replicas :]
        else:
            # Complete the last block with the first batches of this same pass.
            batches += [batches[i % len(batches)] for i in range(-len(batches) % replicas)]
        return batches

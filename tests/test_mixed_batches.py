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
"""Mixed-task batches at inference: rows that name their own task (`task_per_row`), in `forward` and the pipeline."""

from __future__ import annotations

import re

import pytest
import torch

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask, MTDNNMixedOutput

from .conftest import TINY_TASKS, minilm_folder, tiny_bert_config

TASKS = {
    **TINY_TASKS,  # sst2, cola (linear), rte, mnli (SAN: 5 and 3 steps), stsb (regression), qnli (ranking)
    "ner": {"task_type": "token_classification", "id2label": {0: "O", 1: "B-PER", 2: "I-PER"}},
    "squad": {"task_type": "span_extraction"},
}
# Each task type at least once, the tasks interleaved, two tasks with several rows.
ROWS = ["sst2", "rte", "ner", "squad", "qnli", "stsb", "mnli", "ner", "sst2", "cola", "squad", "rte", "qnli"]
LENGTH = 14


@pytest.fixture
def model() -> MTDNNForMultiTask:
    torch.manual_seed(0)
    return MTDNNForMultiTask(MTDNNConfig(encoder_config=tiny_bert_config(), tasks=TASKS)).eval()


def mixed_batch(lengths: list[int], length: int = LENGTH, seed: int = 0) -> dict[str, torch.Tensor]:
    """Pairs of random tokens, right-padded: row i has `lengths[i]` real tokens, its second segment the last 40%."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, 99, (len(lengths), length), generator=generator)
    attention_mask = torch.zeros_like(input_ids)
    token_type_ids = torch.zeros_like(input_ids)
    for row, real in enumerate(lengths):
        attention_mask[row, :real] = 1
        token_type_ids[row, real - max(1, (2 * real) // 5) : real] = 1
        input_ids[row, real:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def rows_of(batch: dict[str, torch.Tensor], rows: list[int], trim: bool = False) -> dict[str, torch.Tensor]:
    """Some rows of a batch; `trim`: without the columns that are padding in all of them."""
    picked = {key: value[rows] for key, value in batch.items()}
    if trim:
        longest = int(picked["attention_mask"].sum(-1).max())
        picked = {key: value[:, :longest] for key, value in picked.items()}
    return picked


def assert_rows_match(mixed: torch.Tensor, alone: torch.Tensor, mask: torch.Tensor) -> None:
    """Logits of the same rows, compared on real tokens for per-token tasks, at float32's rounding (atol 1e-5)."""
    if mixed.dim() == alone.dim() and alone.dim() >= 2 and alone.shape[-2] == mask.shape[-1]:  # per token
        real = mask.bool()
        mixed, alone = mixed[..., : mask.shape[-1], :][real], alone[real]
    assert mixed.shape == alone.shape
    assert torch.allclose(mixed, alone, atol=1e-5), (mixed - alone).abs().max()


LENGTHS = [14, 9, 7, 14, 10, 12, 11, 13, 6, 8, 12, 14, 9]


@pytest.mark.parametrize(
    "task, task_type",
    [
        ("sst2", "classification (linear)"),
        ("cola", "classification (linear)"),
        ("rte", "classification (SAN, 5 steps)"),
        ("mnli", "classification (SAN, 3 steps)"),
        ("stsb", "regression"),
        ("qnli", "ranking (single candidates)"),
        ("ner", "token classification"),
        ("squad", "span extraction"),
    ],
)
def test_each_row_gets_what_a_call_of_its_task_alone_gives(model, task, task_type):
    batch = mixed_batch(LENGTHS)
    with torch.no_grad():
        output = model(**batch, task_per_row=ROWS)
        rows = [row for row, name in enumerate(ROWS) if name == task]
        together = model(**rows_of(batch, rows), task_name=task).logits  # the task's rows, padded as in the batch
        alone = [model(**rows_of(batch, [row], trim=True), task_name=task).logits[0] for row in rows]  # unpadded
    assert isinstance(output, MTDNNMixedOutput) and output.loss is None
    assert output.task_rows[task].tolist() == rows
    assert output.task_logits[task].shape == together.shape
    assert_rows_match(output.task_logits[task], together, batch["attention_mask"][rows])
    for row, logits in zip(rows, alone):
        assert output.row_logits[row].data_ptr() == output.task_logits[task][rows.index(row)].data_ptr()  # a view
        assert_rows_match(output.row_logits[row], logits, batch["attention_mask"][row, : LENGTHS[row]])


def test_the_output_in_input_order_with_every_task_once(model):
    batch = mixed_batch(LENGTHS)
    with torch.no_grad():
        output = model(**batch, task_per_row=ROWS)
        as_tuple = model(**batch, task_per_row=ROWS, return_dict=False)
    assert list(output.task_logits) == list(dict.fromkeys(ROWS))  # in the order of each task's first row
    assert list(output.task_rows) == list(output.task_logits)
    shapes = {"sst2": (2,), "cola": (2,), "rte": (2,), "mnli": (3,), "stsb": (), "qnli": (), "ner": (LENGTH, 3)}
    assert [tuple(logits.shape) for logits in output.row_logits] == [shapes.get(name, (LENGTH, 2)) for name in ROWS]
    assert len(as_tuple) == 3 and len(as_tuple[0]) == len(ROWS)  # row_logits, task_logits, task_rows
    for mixed, plain in zip(as_tuple[0], output.row_logits):
        torch.testing.assert_close(mixed, plain, rtol=0, atol=0)


def encoder_passes(model) -> list[tuple[int, int]]:
    """Records the (rows, length) of every encoder pass."""
    passes = []
    model.encoder.register_forward_hook(
        lambda module, args, kwargs, output: passes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    return passes


def test_rows_of_much_shorter_tasks_get_a_pass_of_their_own_trimmed_to_their_length(model):
    passes = encoder_passes(model)
    names = ["sst2", "rte", "sst2", "mnli", "cola", "cola"]
    lengths = [13, 14, 12, 14, 5, 4]  # cola's rows: far shorter than the others
    batch = mixed_batch(lengths)
    with torch.no_grad():
        output = model(**batch, task_per_row=names, output_hidden_states=True)
        assert passes == [(4, 14), (2, 5)]  # not one pass of 6 rows padded to 14 tokens
        hidden = [model.encoder(**rows_of(batch, [row], trim=True), output_hidden_states=True) for row in range(6)]
        for name in set(names):
            rows = [row for row, task in enumerate(names) if task == name]
            together = model(**rows_of(batch, rows), task_name=name).logits
            assert_rows_match(output.task_logits[name], together, batch["attention_mask"][rows])
    for row, states in enumerate(hidden):  # each row's hidden states, gathered back from the pass that served it
        for layer, state in enumerate(states.hidden_states):
            assert torch.allclose(output.hidden_states[layer][row, : lengths[row]], state[0], atol=1e-5)
    assert output.hidden_states[-1].shape == (6, LENGTH, 32)
    assert output.hidden_states[-1][4:, 5:].abs().sum() == 0  # cola's pass ends at its longest row: zeros after

    passes.clear()
    with torch.no_grad():  # rows of similar lengths share one pass, trimmed to the longest
        model(**mixed_batch([9, 10, 8, 10, 9, 7]), task_per_row=names)
    assert passes == [(6, 10)]
    passes.clear()
    with torch.no_grad():  # no attention mask: every row is whole, one pass
        model(input_ids=batch["input_ids"], task_per_row=names)
    assert passes == [(6, 14)]


def test_tasks_with_lora_adapters_are_served_in_the_same_call(model):
    pytest.importorskip("peft")
    model.add_task_adapter("rte", r=4)
    model.add_task_adapter("ner", r=2, target_modules=["query", "key", "value"])
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():  # B starts at zero: give both adapters an effect, as training would
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    passes = encoder_passes(model)
    batch = mixed_batch([LENGTH] * len(ROWS))
    with torch.no_grad():
        output = model(**batch, task_per_row=ROWS)
        assert passes == [(9, LENGTH), (2, LENGTH), (2, LENGTH)]  # the plain encoder's rows, then each adapter's
        for name in dict.fromkeys(ROWS):
            rows = [row for row, task in enumerate(ROWS) if task == name]
            alone = model(**rows_of(batch, rows), task_name=name).logits
            assert_rows_match(output.task_logits[name], alone, batch["attention_mask"][rows])
        model._use_task_adapter(None)  # the adapter has an effect: the plain encoder gives rte's head other logits
        row = rows_of(batch, [1])
        plain = model.heads["rte"](
            model.encoder(**row).last_hidden_state, row["attention_mask"], row["token_type_ids"]
        )
    assert not torch.allclose(plain[0], output.row_logits[1], atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"task_per_row": ["sst2", "qqp", "rte"]}, ValueError, "task_per_row[1] is 'qqp', which is not a task of this model; its tasks are ['cola', 'mnli', 'ner', 'qnli', 'rte', 'squad', 'sst2', 'stsb']."),
        ({"task_per_row": ["sst2", "rte"]}, ValueError, "task_per_row names 2 tasks for a batch of 3 rows (input_ids of shape (3, 14)); give one task name per row."),
        ({"task_per_row": "sst2"}, TypeError, "task_per_row must be a list of task names, one per row, got the str 'sst2'; to run one task on every row, pass task_name='sst2'."),
        ({"task_per_row": {"sst2": [0, 1, 2]}}, TypeError, "task_per_row must be a list of task names, one per row, got dict {'sst2': [0, 1, 2]}; this model has the tasks"),
        ({"task_per_row": ["sst2"] * 3, "task_name": "sst2"}, ValueError, "task_per_row was given with task_name='sst2': task_name runs the same task(s) on every row, task_per_row names each row's own task; give one of them."),
        ({"task_per_row": ["sst2"] * 3, "labels": torch.tensor([0, 1, 0])}, ValueError, "labels were given with task_per_row: a mixed batch is for inference only (its rows belong to different tasks, each with its own loss); train on single-task batches named by task_name."),
        ({"task_per_row": ["squad"] * 3, "start_positions": torch.tensor([1, 2, 3]), "end_positions": torch.tensor([1, 2, 3])}, ValueError, "start_positions and end_positions were given with task_per_row: a mixed batch is for inference only"),
    ],
)  # fmt: skip
def test_bad_mixed_calls_are_refused_naming_the_field_and_value(model, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        model(**mixed_batch([14, 9, 7]), **kwargs)


def test_candidate_groups_are_refused_in_a_mixed_batch(model):
    grouped = {key: value.reshape(2, 2, -1) for key, value in mixed_batch([14, 9, 7, 10]).items()}
    message = (
        "task_per_row takes input_ids of shape (batch, seq_len), one row per task name, got (2, 2, 14); in a mixed "
        "batch a ranking row is one (query, candidate) pair, scored alone: give each candidate its own row."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        model(**grouped, task_per_row=["qnli", "qnli"])


def test_inputs_embeds_and_position_ids_follow_their_rows(model):
    batch = mixed_batch([14, 5, 4, 13])
    embeds = model.get_input_embeddings()(batch.pop("input_ids"))
    positions = torch.arange(LENGTH)[None]  # one row, broadcast to every row
    names = ["rte", "sst2", "sst2", "stsb"]
    with torch.no_grad():
        output = model(inputs_embeds=embeds, position_ids=positions, **batch, task_per_row=names)
        for name, rows in (("rte", [0]), ("sst2", [1, 2]), ("stsb", [3])):
            alone = model(
                inputs_embeds=embeds[rows], position_ids=positions, **rows_of(batch, rows), task_name=name
            ).logits
            assert_rows_match(output.task_logits[name], alone, batch["attention_mask"][rows])


# ------------------------------------------------------------------------------------------------------ pipeline
@pytest.fixture
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_folder())


@pytest.fixture
def served(tokenizer):
    """A pipeline over every task type, `stsb` with a LoRA adapter."""
    from transformers import pipeline

    from modeling_mtdnn import MTDNNPipeline

    pytest.importorskip("peft")
    torch.manual_seed(0)
    encoder = tiny_bert_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=encoder, tasks=TASKS)).eval()
    model.add_task_adapter("stsb", r=4)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    return pipeline("mtdnn", model=model, tokenizer=tokenizer, pipeline_class=MTDNNPipeline)


MIXED_INPUTS = [
    {"text": "A man plays a guitar.", "task": "sst2"},
    {"text": "A man plays a guitar.", "text_pair": "Someone makes music.", "task": "rte"},
    {"text": "Angela Merkel met Emmanuel Macron in Paris on Tuesday.", "task": "ner"},
    {"question": "Who plays?", "context": "A man plays a guitar in the park near the river.", "task": "squad"},
    {"text": "Where is the man?", "text_pair": "In the park.", "task": "qnli"},
    {"text": "A man plays.", "text_pair": "Someone makes music loudly today.", "task": "stsb"},
    {"text": "Two dogs run.", "text_pair": "Animals sleep.", "task": "mnli"},
    {"text": "Paris.", "task": "ner"},
    {"text": "It rained all day, so the match was moved.", "task": "cola"},
]


def assert_same_result(mixed, alone, where):
    """Pipeline results equal up to float rounding of their scores."""
    if isinstance(alone, list):
        assert isinstance(mixed, list) and len(mixed) == len(alone), where
        for one, other in zip(mixed, alone):
            assert_same_result(one, other, where)
        return
    assert mixed.keys() == alone.keys(), where
    for key, value in alone.items():
        if isinstance(value, float):
            assert mixed[key] == pytest.approx(value, rel=1e-4, abs=1e-5), (where, key)
        else:
            assert mixed[key] == value, (where, key)


def test_pipeline_serves_mixed_inputs_in_one_model_call_per_batch(served):
    calls = []
    served.model.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs.get("task_per_row")), with_kwargs=True
    )
    alone = [
        served({key: value for key, value in item.items() if key != "task"}, task_name=item["task"])
        for item in MIXED_INPUTS
    ]
    calls.clear()
    mixed = served(MIXED_INPUTS, batch_size=4)
    tasks = [item["task"] for item in MIXED_INPUTS]
    assert calls == [tasks[:4], tasks[4:8], tasks[8:]]  # one model call per batch, its rows' tasks mixed
    assert len(mixed) == len(MIXED_INPUTS)
    for item, result, single in zip(MIXED_INPUTS, mixed, alone):
        assert_same_result(result, single, item["task"])

    # The same inputs with their tasks given as task_per_row (strings and tuples as well as dicts), one by one too.
    plain = [{key: value for key, value in item.items() if key != "task"} for item in MIXED_INPUTS]
    plain[0], plain[1] = plain[0]["text"], (plain[1]["text"], plain[1]["text_pair"])
    calls.clear()
    for size in (1, 9):
        named = served(plain, task_per_row=tasks, batch_size=size)
        for item, result, single in zip(MIXED_INPUTS, named, alone):
            assert_same_result(result, single, (item["task"], size))
    assert calls == [[task] for task in tasks] + [tasks]
    assert served(MIXED_INPUTS[2]) == alone[2]  # one input naming its task: its task's result


def test_pipeline_reads_a_long_context_in_windows_when_one_input_at_a_time(served):
    question = {"question": "Who plays?", "context": "A man plays a guitar in the park. " * 12, "task": "squad"}
    settings = {"max_seq_len": 48, "doc_stride": 16}
    plain = {key: value for key, value in question.items() if key != "task"}
    assert served([question, MIXED_INPUTS[0]], **settings) == [
        served(plain, task_name="squad", **settings),
        served("A man plays a guitar.", task_name="sst2"),
    ]
    message = (
        "Task 'squad': the context of the question 'Who plays?' needs 4 windows of max_seq_len=48 tokens, but with "
        "batch_size > 1 each input of a mixed call is one row of its batch; call with batch_size 1 (the windows are "
        "then the batch) or a larger max_seq_len."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        served([question, MIXED_INPUTS[0]], batch_size=2, **settings)


@pytest.mark.parametrize(
    "inputs, kwargs, error, message",
    [
        ([{"text": "Who plays the guitar?", "task": "squad"}], {}, ValueError, "Task 'squad' (span_extraction) answers a question from its context, but the input 'Who plays the guitar?' came alone, without 'text_pair' (or 'question' and 'context'); pass {'question': ..., 'context': ..., 'task': 'squad'}."),
        ([{"context": "A man plays a guitar.", "task": "squad"}], {}, ValueError, "Task 'squad': the input {'context': 'A man plays a guitar.', 'task': 'squad'} has no 'question'; pass {'question': ..., 'context': ..., 'task': 'squad'}."),
        ([{"text": "A man plays.", "task": "rte"}], {}, ValueError, "Task 'rte' reads sentence pairs, but 'A man plays.' came without a text_pair; pass {'text': ..., 'text_pair': ..., 'task': 'rte'}."),
        ([{"text": "Paris.", "text_pair": "Rome.", "task": "ner"}], {}, ValueError, "Task 'ner' (token_classification) tags the words of one text, but a text_pair came with 'Paris.'; give it a single text."),
        ([{"text": "A man plays.", "task": "qqp"}], {}, ValueError, "Input 0's 'task' is 'qqp', which is not a task of this model; its tasks are ['cola', 'mnli', 'ner', 'qnli', 'rte', 'squad', 'sst2', 'stsb']."),
        (["A man plays.", "Rain."], {"task_per_row": ["sst2", "qqp"]}, ValueError, "task_per_row[1] is 'qqp', which is not a task of this model"),
        (["A man plays.", "Rain."], {"task_per_row": ["sst2"]}, ValueError, "task_per_row names 1 tasks for 2 inputs; give one task name per input."),
        ("A man plays.", {"task_per_row": ["sst2"]}, TypeError, "task_per_row names the task of each input of a list, but the inputs are str 'A man plays.'; pass a list of inputs"),
        ([{"text": "A man plays.", "task": "sst2"}], {"task_per_row": ["cola"]}, ValueError, "Input 0 names task 'sst2' in its 'task' key but task_per_row[0] is 'cola'; name each input's task once."),
        ([{"text": "A man plays.", "task": "sst2"}, "Rain."], {}, ValueError, "Inputs [0] name their task ('task' key) but inputs [1] do not; in one call every input names its task, or none does and task_name picks the tasks."),
        ([{"text": "A man plays.", "task": "sst2"}], {"task_name": "sst2"}, ValueError, "The inputs name their own task ('task' key or task_per_row) and task_name='sst2' was given too: task_name runs the same task(s) on every input; give one of them."),
    ],
)  # fmt: skip
def test_pipeline_refuses_bad_mixed_inputs_naming_task_and_field(served, inputs, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        served(inputs, **kwargs)


def test_batched_token_task_results_equal_unbatched_ones(served):
    """A batch's padding is no word: collated `word_ids` are padded with 0, which used to read as a first word."""
    texts = ["Angela Merkel met Emmanuel Macron in Paris on Tuesday.", "Paris.", "Rome is far from Paris today."]
    one_by_one = [served(text, task_name="ner") for text in texts]
    for result, single in zip(served(texts, task_name="ner", batch_size=3), one_by_one):
        assert_same_result(result, single, "ner")

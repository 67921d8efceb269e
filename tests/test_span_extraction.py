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
"""Span extraction (SQuAD): the task type, head and loss, context windows, answer search, EM/F1, a run, export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, pipeline

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask, get_task_type
from mtdnn.training.collator import MultiTaskDataCollator
from mtdnn.training.metrics import compute_task_metrics, span_answers, squad_metrics, task_score
from mtdnn.training.preparation import prepare_split
from mtdnn.training.run_mtdnn import main
from mtdnn.training.task_files import TaskDataSpec, load_task_specs

from .conftest import minilm_folder, tiny_bert_config, write_local_copy
from .test_run_mtdnn import common_flags, encoder_dir  # noqa: F401 (a fixture)
from .test_task_files import pairs

SPAN = {"task_type": "span_extraction"}
CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in France. "
    "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway. Their leader Rollo agreed "
    "to swear fealty to King Charles III of West Francia."
)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def questions(**columns) -> datasets.Dataset:
    answers = [
        ("Normandy", CONTEXT.index("Normandy")),
        ("Rollo", CONTEXT.index("Rollo")),
        ("France", CONTEXT.index("France")),
    ]
    data = {
        "id": ["a", "b", "c"],
        "question": ["In what country is Normandy located?", " Who was the Norse leader?", "Where is Normandy?"],
        "context": [CONTEXT] * 3,
        "answers": [{"text": [text], "answer_start": [start]} for text, start in answers],
    }
    return datasets.Dataset.from_dict(data | columns)


def squad_spec(**overrides) -> TaskDataSpec:
    return TaskDataSpec(**({field: getattr(BUILTIN, field) for field in ("name", "dataset", "config", "text_columns", "label_column", "task_type", "metric")} | overrides))  # fmt: skip


BUILTIN = load_task_specs(["squad"])["squad"]


def test_the_spec_has_start_and_end_and_refuses_other_heads_and_single_texts():
    spec = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"qa": SPAN}).tasks["qa"]
    assert (spec["num_labels"], spec["inputs"], spec["head"]) == (2, "pair", "linear")
    for changes, message in [
        ({"head": "san"}, "Task 'qa': field 'head' must be 'linear' for task_type 'span_extraction'"),
        ({"inputs": "single"}, "Task 'qa': field 'inputs' must be 'pair' for task_type 'span_extraction'"),
        ({"num_labels": 3}, "Task 'qa': field 'num_labels' must be 2 (or left out) for task_type 'span_extraction'"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"qa": SPAN | changes})
    assert (BUILTIN.doc_stride, BUILTIN.max_seq_length, BUILTIN.max_answer_length) == (128, 384, 30)


def test_the_loss_is_the_mean_of_start_and_end_cross_entropies():
    torch.manual_seed(0)
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"qa": SPAN})).eval()
    input_ids = torch.randint(5, 99, (3, 7))
    labels = torch.tensor([[2, 4], [0, 0], [5, 5]])
    output = model(input_ids=input_ids, task_name="qa", labels=labels)
    assert output.logits.shape == (3, 7, 2)
    expected = (F.cross_entropy(output.logits[..., 0], labels[:, 0]) + F.cross_entropy(output.logits[..., 1], labels[:, 1])) / 2  # fmt: skip
    assert torch.allclose(output.loss, expected, atol=1e-6)
    with pytest.raises(ValueError, match=re.escape("Task 'qa' (span_extraction): labels of shape (3,) do not match logits of shape (3, 7, 2); give one label per example: its answer's (start, end) token positions, shape (batch, 2).")):  # fmt: skip
        model(input_ids=input_ids, task_name="qa", labels=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=re.escape("Task 'qa' (span_extraction): label 7 is out of range; labels must be token positions 0..6")):  # fmt: skip
        model(input_ids=input_ids, task_name="qa", labels=torch.tensor([[2, 4], [0, 7], [5, 5]]))


def test_long_contexts_become_windows_whose_labels_point_at_the_answer(tokenizer):
    spec = squad_spec(doc_stride=8)
    data = questions()
    features = prepare_split(spec, data, tokenizer, max_seq_length=40, split="train")
    assert len(features) > len(data) and sorted(set(features["example_id"])) == [0, 1, 2]
    found = {0: 0, 1: 0, 2: 0}
    for feature in features:
        row, offsets, label = feature["example_id"], feature["offset_mapping"], feature["labels"]
        assert len(feature["input_ids"]) <= 40 and feature["context"] == CONTEXT
        answer = data[row]["answers"]["text"][0]
        assert feature["answer_texts"] == [answer]
        inside = [o for o in offsets if o[0] >= 0]
        start_char = data[row]["answers"]["answer_start"][0]
        holds_answer = inside[0][0] <= start_char and start_char + len(answer) <= inside[-1][1]
        if (label["start"], label["end"]) == (0, 0):  # [CLS] twice: exactly the windows that miss the answer
            assert not holds_answer
            continue
        assert holds_answer
        found[row] += 1
        assert offsets[label["start"]][0] >= 0 and offsets[label["end"]][0] >= 0  # inside the context
        assert CONTEXT[offsets[label["start"]][0] : offsets[label["end"]][1]] == answer
    assert all(count >= 1 for count in found.values())  # each answer lies whole in a window, and maps back
    # consecutive windows of one example share doc_stride context tokens
    first, second = [f["offset_mapping"] for f in features if f["example_id"] == 0][:2]
    shared = [o for o in first if o[0] >= 0 and o in second]
    assert len(shared) == 8


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"answers": [{"text": ["Normandy"], "answer_start": [3]}] * 3},
            "Task 'squad', split 'validation', row 0, field 'answers': answer_start 3 points at ' Normans', not at the "
            "answer text 'Normandy'; answer_start must be the answer's character offset in the context.",
        ),
        (
            {"context": [CONTEXT, "", CONTEXT]},
            "Task 'squad', split 'validation': column 'context' holds '' at row 1, but every text must be a non-empty "
            "string",
        ),
        (
            {"question": ["Where?", "  ", "Who?"]},
            "Task 'squad', split 'validation': column 'question' holds '  ' at row 1",
        ),
        (
            {"answers": [{"text": [], "answer_start": []}] * 3},
            "Task 'squad', split 'validation', row 0, field 'answers': the question has no answer; unanswerable "
            "questions (SQuAD 2.0) are not supported yet.",
        ),
    ],
)
def test_bad_rows_are_refused_naming_task_split_row_and_field(tokenizer, columns, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_split(squad_spec(), questions(**columns), tokenizer, max_seq_length=64, split="validation")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"text": [" "], "answer_start": [CONTEXT.index(" ")]},
            "Task 'squad', split 'train', row 1, field 'answers': answer text ' ' (answer_start 3) is only whitespace, "
            "which marks no span of the context; give the answer's words, or drop the row (dataset.filter).",
        ),
        (
            # "Francia" 8 characters before the end: Python's slice reads it, but SQuAD offsets count from 0
            {"text": ["Francia"], "answer_start": [-8]},
            "Task 'squad', split 'train', row 1, field 'answers': answer_start -8 puts the answer 'Francia' outside the "
            "context (275 characters); answer_start must be the answer's character offset in the context, counted "
            "from 0 (a negative one is not read from the end).",
        ),
        (
            {"text": ["Francia."], "answer_start": [270]},
            "Task 'squad', split 'train', row 1, field 'answers': answer_start 270 puts the answer 'Francia.' outside "
            "the context (275 characters)",
        ),
        (
            {"text": ["Rollo", "Norse"], "answer_start": [CONTEXT.index("Rollo"), CONTEXT.index("Rollo")]},
            "Task 'squad', split 'train', row 1, field 'answers': answer_start 210 points at 'Rollo', not at the answer "
            "text 'Norse'; answer_start must be the answer's character offset in the context.",
        ),
    ],
)
def test_answers_that_mark_no_span_of_the_context_are_refused(tokenizer, answer, message):
    answers = questions()["answers"]
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_split(squad_spec(), questions(answers=[answers[0], answer, answers[2]]), tokenizer, split="train")


def test_an_answer_with_whitespace_around_it_is_labelled_by_its_characters_only(tokenizer):
    # " Normandy" starts at the space before the word, " Rollo " ends after the space behind it too.
    spaced = [" Normandy", " Rollo ", "France"]
    answers = [{"text": [text], "answer_start": [CONTEXT.index(text)]} for text in spaced]
    features = prepare_split(squad_spec(), questions(answers=answers), tokenizer, max_seq_length=128, split="train")
    plain = prepare_split(squad_spec(), questions(), tokenizer, max_seq_length=128, split="train")
    assert len(features) == 3 and features["labels"] == plain["labels"]  # the spaces move no label
    for feature, text in zip(features, spaced):
        label, offsets = feature["labels"], feature["offset_mapping"]
        assert CONTEXT[offsets[label["start"]][0] : offsets[label["end"]][1]] == text.strip()
        assert feature["answer_texts"] == [text]  # references as given: SQuAD's normalisation strips them
    assert squad_metrics("squad", ["Normandy", "Rollo", "France"], features["answer_texts"]) == {"exact_match": 1.0, "f1": 1.0}  # fmt: skip


def test_window_settings_are_checked(tokenizer):
    with pytest.raises(ValueError, match=re.escape("Task 'squad', split 'train': doc_stride 30 leaves no room for new context tokens in windows of 40 tokens")):  # fmt: skip
        prepare_split(squad_spec(doc_stride=30), questions(), tokenizer, max_seq_length=40, split="train")
    with pytest.raises(ValueError, match=re.escape("Task 'squad': field 'doc_stride' must be an integer >= 1")):
        squad_spec(doc_stride=0)
    with pytest.raises(ValueError, match=re.escape("Task 'squad': field 'metric' must be a metric for task_type 'span_extraction', one of ['squad'], got 'accuracy'.")):  # fmt: skip
        squad_spec(metric="accuracy")


def test_squad_scores_use_the_official_normalisation():
    metrics = squad_metrics(
        "squad",
        ["The Denver Broncos!", "Denver", "in 1990", "Carolina"],
        [["Denver Broncos"], ["Denver Broncos", "the Broncos"], ["1990", "in 1991"], ["Panthers"]],
    )
    # exact: 1 (article and punctuation dropped), 0, 0, 0; F1 (best gold): 1, 2/3, 2/3 ("1990" of "in 1990"), 0
    assert metrics == pytest.approx({"exact_match": 0.25, "f1": (1 + 2 / 3 + 2 / 3 + 0) / 4})
    assert task_score(metrics) == pytest.approx(metrics["f1"])
    assert compute_task_metrics("squad", "squad", ["Rollo"], [["rollo."]]) == {"exact_match": 1.0, "f1": 1.0}


def test_the_answer_search_keeps_valid_spans_and_the_best_window():
    context = "abc def ghi jkl"
    features = {
        "example_id": [0, 0],
        "offset_mapping": [
            [[-1, -1], [-1, -1], [0, 3], [4, 7], [8, 11], [-1, -1]],
            [[-1, -1], [-1, -1], [8, 11], [12, 15], [-1, -1], [-1, -1]],
        ],
        "context": [context, context],
    }
    logits = np.zeros((2, 6, 2))
    logits[0, 1] = [9.0, 9.0]  # the question's token: never an answer
    logits[0, 4, 0], logits[0, 2, 1] = 5.0, 5.0  # end before start: refused
    logits[0, 3] = [2.0, 2.0]  # "def"
    logits[1, 2, 0], logits[1, 3, 1] = 3.0, 3.5  # "ghi jkl" in the second window: the best
    best = span_answers(logits, features, n_best_size=20, max_answer_length=30)
    assert best[0]["answer"] == "ghi jkl" and (best[0]["start"], best[0]["end"]) == (8, 15)
    assert best[0]["score"] == pytest.approx(6.5)
    short = span_answers(logits, features, n_best_size=20, max_answer_length=1)
    assert short[0]["answer"] in {"def", "ghi", "jkl"} and len(short[0]["answer"]) == 3


def test_the_collator_stacks_span_labels(tokenizer):
    features = prepare_split(squad_spec(), questions(), tokenizer, max_seq_length=128, split="train")
    batch = MultiTaskDataCollator(tokenizer)([features[i] for i in range(3)])
    assert batch["labels"].tolist() == [[f["labels"]["start"], f["labels"]["end"]] for f in features]
    assert "context" not in batch and "offset_mapping" not in batch


def short_squad_task_file(folder) -> Path:
    """SQuAD in windows of 48 tokens (the tiny test encoder's positions), sharing 16."""
    path = folder / "squad_short.yaml"
    path.write_text(
        "dataset: rajpurkar/squad\ntasks:\n  squad:\n    config: plain_text\n    text_columns: [question, context]\n"
        "    label_column: answers\n    task_type: span_extraction\n    metric: squad\n    max_seq_length: 48\n"
        "    doc_stride: 16\n"
    )
    return path


def test_squad_trains_beside_a_sentence_task_and_is_scored_by_exact_match_and_f1(encoder_dir, tmp_path):  # noqa: F811
    data = tmp_path / "data"
    write_local_copy(data / "glue", {"rte": {"train": pairs(), "validation": pairs()}})
    write_local_copy(data / "squad", {"plain_text": {"train": questions(), "validation": questions()}})
    task_file = short_squad_task_file(tmp_path)
    flags = ["--tasks", "squad,rte", "--task_files", str(task_file), "--do_train", "--do_eval", "--max_steps", "3", "--per_device_train_batch_size", "2", "--save_strategy", "no"]  # fmt: skip
    metrics = main(common_flags(encoder_dir, tmp_path / "out", data) + flags)
    assert metrics["train_squad_samples"] > 3  # windows, not questions
    assert 0 <= metrics["eval_squad_exact_match"] <= metrics["eval_squad_f1"] <= 1
    assert metrics["eval_average"] == pytest.approx((metrics["eval_squad_f1"] + metrics["eval_rte_accuracy"]) / 2)
    # predictions: SQuAD's {question id: answer}, each answer a span of its context
    write_local_copy(data / "squad", {"plain_text": {"train": questions(), "validation": questions(), "test": questions()}})  # fmt: skip
    predict = ["--init_from", str(tmp_path / "out"), "--tasks", "squad", "--task_files", str(task_file), "--do_predict", "--output_dir", str(tmp_path / "pred")]  # fmt: skip
    main(common_flags(encoder_dir, tmp_path / "pred", data)[2:] + predict)
    answers = json.loads((tmp_path / "pred" / "predictions" / "squad.json").read_text())
    assert list(answers) == ["a", "b", "c"] and all(answer in CONTEXT for answer in answers.values())
    # Batches grouped by length predict the same answers for the same questions (rows are put back in order).
    grouped = ["--train_sampling_strategy", "group_by_length", "--per_device_eval_batch_size", "2"]
    main(
        common_flags(encoder_dir, tmp_path / "grouped", data)[2:]
        + predict[:-1]
        + [str(tmp_path / "grouped"), *grouped]
    )
    assert json.loads((tmp_path / "grouped" / "predictions" / "squad.json").read_text()) == answers


@pytest.fixture(scope="module")
def qa_model(tokenizer):
    torch.manual_seed(0)
    tasks = {"squad": SPAN, "rte": {"task_type": "classification", "num_labels": 2}}
    config = MTDNNConfig(encoder_config=tiny_bert_config(vocab_size=tokenizer.vocab_size), tasks=tasks)
    return MTDNNForMultiTask(config).eval()


def test_export_to_question_answering_gives_identical_logits(qa_model, tokenizer):
    exported = qa_model.export_task("squad")
    assert type(exported).__name__ == "BertForQuestionAnswering"
    encoded = tokenizer("Who was the leader?", CONTEXT, return_tensors="pt", truncation="only_second", max_length=64)
    with torch.no_grad():
        ours = qa_model(**encoded, task_name="squad").logits
        theirs = exported(**encoded)
    assert torch.allclose(theirs.start_logits, ours[..., 0], atol=1e-5)
    assert torch.allclose(theirs.end_logits, ours[..., 1], atol=1e-5)


def test_start_and_end_positions_are_taken_as_question_answering_models_take_them(qa_model, tokenizer):
    exported = qa_model.export_task("squad")
    encoded = tokenizer(["Who was the leader?"] * 2, [CONTEXT] * 2, return_tensors="pt", truncation="only_second", max_length=64)  # fmt: skip
    start, end = torch.tensor([20, 3]), torch.tensor([21, 3])
    with torch.no_grad():
        ours = qa_model(**encoded, task_name="squad", start_positions=start, end_positions=end)
        as_labels = qa_model(**encoded, task_name="squad", labels=torch.stack([start, end], dim=-1))
        theirs = exported(**encoded, start_positions=start, end_positions=end)
    assert torch.allclose(ours.loss, theirs.loss, atol=1e-5)
    assert torch.equal(ours.loss, as_labels.loss)
    for kwargs, message in [
        ({"task_name": "rte"}, "start_positions / end_positions were given with task_name='rte'; they are the labels of one span-extraction task"),
        ({"task_name": None}, "start_positions / end_positions were given with task_name=None"),
        ({"task_name": "squad", "labels": torch.stack([start, end], dim=-1)}, "Task 'squad': give the answer span either as `labels` (batch, 2) or as start_positions and end_positions, not both."),
        ({"task_name": "squad", "end_positions": None}, "Task 'squad': start_positions and end_positions go together; end_positions is missing."),
        ({"task_name": "squad", "end_positions": end[:1]}, "must both be of shape (batch,), got (2,) and (1,)"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(message)):
            qa_model(**encoded, **({"start_positions": start, "end_positions": end} | kwargs))


def test_the_pipeline_answers_from_the_best_window(qa_model, tokenizer):
    answerer = pipeline("mtdnn", model=qa_model, tokenizer=tokenizer)
    question = {"question": "Who was the Norse leader?", "context": CONTEXT}
    whole = answerer(question, task_name="squad", doc_stride=16)  # windows of 64 tokens: the tiny encoder's most
    assert set(whole) == {"answer", "score", "start", "end"} and 0 < whole["score"] <= 1
    assert whole["answer"] == CONTEXT[whole["start"] : whole["end"]]
    windows = answerer(question, task_name="squad", max_seq_len=32, doc_stride=8)
    assert windows["answer"] == CONTEXT[windows["start"] : windows["end"]]
    encoded = tokenizer(question["question"], CONTEXT, truncation="only_second", max_length=32, stride=8, return_overflowing_tokens=True)  # fmt: skip
    assert len(encoded["input_ids"]) > 2  # several windows were searched
    both = answerer(question, doc_stride=16)  # every task from one pass: the first window, and all of them for squad
    assert set(both) == {"squad", "rte"} and both["squad"] == whole
    with pytest.raises(ValueError, match=re.escape("Task(s) ['squad'] answer a question from a context, but 'Who?' came alone")):  # fmt: skip
        answerer("Who?", task_name="squad")
    with pytest.raises(ValueError, match=re.escape("Span-extraction tasks ['squad'] read each input's context windows as one batch, so they run with batch_size 1, got 2")):  # fmt: skip
        answerer([question, question], task_name="squad", batch_size=2)


def test_the_pipeline_picks_the_best_span_over_windows():
    text = "abc def ghi jkl"
    offsets = torch.tensor([[[0, 0], [0, 3], [4, 7], [0, 0]], [[0, 0], [8, 11], [12, 15], [0, 0]]])
    in_context = torch.tensor([[False, True, True, False], [False, True, True, False]])
    logits = torch.zeros(2, 4, 2)
    logits[0, 0] = 20.0  # [CLS]: outside the context, never chosen
    logits[0, 1], logits[0, 2, 1] = torch.tensor([2.0, 0.0]), 2.0  # window 1: "abc def", start + end = 4
    logits[1, 2] = torch.tensor([6.0, 6.0])  # window 2: "jkl", start + end = 12, p = 0.9975 ** 2
    outputs = {"offset_mapping": offsets, "in_context": in_context, "text": text}
    span = get_task_type("span_extraction")
    best = span.pipeline_result(logits, outputs, {}, max_answer_len=30)
    assert (best["answer"], best["start"], best["end"]) == ("jkl", 12, 15)
    assert best["score"] == pytest.approx(torch.softmax(torch.tensor([0.0, 6.0]), 0)[1].item() ** 2)
    logits[1, 1, 0] = 9.0  # window 2 now prefers "ghi jkl" (start 1, end 2) unless answers are one token long
    assert span.pipeline_result(logits, outputs, {}, max_answer_len=30)["answer"] == "ghi jkl"
    # One-token answers: window 2's "jkl" (6 + 6) has the highest start + end logit, the rule evaluation scores by;
    # window 1's "abc" would win on the product of probabilities (0.88 x 0.12), the rule the pipeline used before.
    assert span.pipeline_result(logits, outputs, {}, max_answer_len=1)["answer"] == "jkl"


def test_ner_and_qa_train_and_evaluate_under_ddp_as_in_one_process(encoder_dir, tmp_path):  # noqa: F811
    """
    Two gloo processes, batches grouped by length: the gathered token and span logits (padded across ranks, put back in
    dataset order) score as one process reading in order does.
    """

    from .test_token_classification import sentences
    from .test_trainer import REPO, run_two_processes

    data = tmp_path / "data"
    write_local_copy(data / "glue", {"rte": {"train": pairs(), "validation": pairs()}})
    write_local_copy(data / "conll2003", {"conll2003": {"train": sentences(), "validation": sentences()}})
    write_local_copy(data / "squad", {"plain_text": {"train": questions(), "validation": questions()}})
    task_file = short_squad_task_file(tmp_path)
    flags = common_flags(encoder_dir, tmp_path / "ddp", data) + ["--tasks", "conll2003,squad,rte", "--task_files", str(task_file), "--do_train", "--do_eval", "--max_steps", "4", "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2", "--save_strategy", "no", "--use_cpu", "true", "--train_sampling_strategy", "group_by_length"]  # fmt: skip
    script = REPO / "training" / "run_mtdnn.py"
    run_two_processes(script, *flags)
    distributed = json.loads((tmp_path / "ddp" / "eval_results.json").read_text())
    assert json.loads((tmp_path / "ddp" / "train_results.json").read_text())["train_squad_samples"] > 3
    single = main(common_flags(encoder_dir, tmp_path / "one", data)[:-4] + ["--init_from", str(tmp_path / "ddp"), "--output_dir", str(tmp_path / "one"), "--tasks", "conll2003,squad,rte", "--task_files", str(task_file), "--do_eval", "--per_device_eval_batch_size", "3", "--report_to", "none"])  # fmt: skip
    for key in ("eval_conll2003_f1", "eval_conll2003_accuracy", "eval_squad_exact_match", "eval_squad_f1", "eval_rte_accuracy"):  # fmt: skip
        assert distributed[key] == pytest.approx(single[key], abs=1e-6), key


def test_a_run_of_ner_and_qa_resumes_to_the_same_weights(encoder_dir, tmp_path):  # noqa: F811
    from .test_token_classification import sentences

    data = tmp_path / "data"
    write_local_copy(data / "conll2003", {"conll2003": {"train": sentences(), "validation": sentences()}})
    write_local_copy(data / "squad", {"plain_text": {"train": questions(), "validation": questions()}})
    task_file = short_squad_task_file(tmp_path)
    flags = ["--tasks", "conll2003,squad", "--task_files", str(task_file), "--do_train", "--max_steps", "6", "--per_device_train_batch_size", "2", "--save_strategy", "steps", "--save_steps", "4", "--learning_rate", "1e-3"]  # fmt: skip
    main(common_flags(encoder_dir, tmp_path / "full", data) + flags)
    checkpoint = tmp_path / "full" / "checkpoint-4"
    full_weights = MTDNNForMultiTask.from_pretrained(tmp_path / "full").state_dict()
    resumed = (
        common_flags(encoder_dir, tmp_path / "full", data) + flags + ["--resume_from_checkpoint", str(checkpoint)]
    )
    main(resumed)
    for key, value in MTDNNForMultiTask.from_pretrained(tmp_path / "full").state_dict().items():
        torch.testing.assert_close(value, full_weights[key], rtol=0, atol=1e-6, msg=key)
    # The checkpoint is really where training went on from: a shifted bias in it survives the last two steps.
    from safetensors.torch import load_file, save_file

    weights = load_file(checkpoint / "model.safetensors")
    weights["heads.squad.classifier.bias"] += 1.0
    save_file(weights, checkpoint / "model.safetensors", metadata={"format": "pt"})
    main(resumed)
    shifted = MTDNNForMultiTask.from_pretrained(tmp_path / "full").state_dict()["heads.squad.classifier.bias"]
    assert ((shifted - full_weights["heads.squad.classifier.bias"]) - 1.0).abs().max() < 0.01


def test_the_pipeline_returns_the_answer_that_evaluation_scores(qa_model, tokenizer, monkeypatch):
    """
    A context read in several windows where the two rules disagree: "apple" twice in the first window (start and end
    logits 10 each: the highest start + end logit, but each holds only half of its window's probability) and "river"
    once in the last (logits 8: nearly all of its window's probability). Evaluation's n-best rule picks "apple"; the
    product of probabilities, the pipeline's rule before, picked "river". The pipeline must return the scored answer.
    """
    context = "apple apple " + "the " * 50 + "river"
    question = "What is it?"
    apple, river = tokenizer.convert_tokens_to_ids(["apple", "river"])

    def crafted(input_ids: torch.Tensor) -> torch.Tensor:
        scores = torch.where(input_ids == apple, 10.0, torch.where(input_ids == river, 8.0, 0.0))
        return torch.stack([scores, scores], dim=-1)

    forward = qa_model.forward

    def crafted_forward(*args, **kwargs):
        output = forward(*args, **kwargs)
        output.task_logits["squad"] = crafted(kwargs["input_ids"])
        return output

    monkeypatch.setattr(qa_model, "forward", crafted_forward)
    answerer = pipeline("mtdnn", model=qa_model, tokenizer=tokenizer)
    served = answerer({"question": question, "context": context}, task_name="squad", max_seq_len=32, doc_stride=8, max_answer_len=1)  # fmt: skip

    # Evaluation: the same windows prepared as for the dev set, decoded by the task type as `score_task` does.
    spec = squad_spec(doc_stride=8, max_answer_length=1)
    rows = datasets.Dataset.from_dict({"id": ["q"], "question": [question], "context": [context], "answers": [{"text": ["apple"], "answer_start": [0]}]})  # fmt: skip
    features = prepare_split(spec, rows, tokenizer, max_seq_length=32, split="validation")
    assert len(features) > 2  # the context spans several windows
    input_ids = torch.zeros(len(features), 32, dtype=torch.long)
    for i, ids in enumerate(features["input_ids"]):
        input_ids[i, : len(ids)] = torch.tensor(ids)
    scored = get_task_type("span_extraction").decode(crafted(input_ids).numpy(), features, max_answer_length=1)[0]

    # The rule the pipeline used before: the best product of start and end probabilities over the windows.
    windows = tokenizer(question, context, truncation="only_second", max_length=32, stride=8, return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest", return_tensors="pt")  # fmt: skip
    logits, product_rule = crafted(windows["input_ids"]), (0.0, "")
    for w in range(len(windows["input_ids"])):
        inside = torch.tensor([index == 1 for index in windows.sequence_ids(w)])
        start = torch.softmax(logits[w, :, 0].masked_fill(~inside, -1e9), dim=-1)
        end = torch.softmax(logits[w, :, 1].masked_fill(~inside, -1e9), dim=-1)
        best = int((start * end).argmax())  # one-token answers: start == end
        first, last = windows["offset_mapping"][w, best].tolist()
        product_rule = max(product_rule, ((start[best] * end[best]).item(), context[first:last]))

    assert product_rule[1] == "river" and scored["answer"] == "apple"
    assert (served["answer"], served["start"], served["end"]) == (scored["answer"], scored["start"], scored["end"])
    assert 0 < served["score"] < product_rule[0]


def test_one_call_serves_token_span_and_sentence_tasks(tokenizer):
    """The all-tasks call on a question and its context: the span task answers, the token task tags the context."""
    torch.manual_seed(0)
    tags = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    tasks = {"squad": SPAN, "ner": {"task_type": "token_classification", "id2label": tags}, "rte": {"task_type": "classification", "num_labels": 2}}  # fmt: skip
    config = MTDNNConfig(encoder_config=tiny_bert_config(vocab_size=tokenizer.vocab_size), tasks=tasks)
    model = MTDNNForMultiTask(config).eval()
    served = pipeline("mtdnn", model=model, tokenizer=tokenizer)
    question = {"question": "Who was the Norse leader?", "context": CONTEXT}
    every = served(question, max_seq_len=64, doc_stride=16)
    assert set(every) == {"squad", "ner", "rte"}
    assert every["squad"] == served(question, task_name="squad", max_seq_len=64, doc_stride=16)
    assert every["ner"] == served(CONTEXT, task_name="ner")  # the context alone, as a token task reads one text
    assert every["ner"] and all(e["word"] == CONTEXT[e["start"] : e["end"]] for e in every["ner"])
    assert every["rte"] == served(question, task_name=["squad", "rte"], max_seq_len=64, doc_stride=16)["rte"]

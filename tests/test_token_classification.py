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
"""Token classification (NER): the task type, its head and loss, tag alignment, padding, seqeval scoring, a run."""

from __future__ import annotations

import re
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, pipeline

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask, get_task_type
from mtdnn.training.collator import MultiTaskDataCollator
from mtdnn.training.data_loading import local_dataset_folder
from mtdnn.training.metrics import compute_task_metrics, score_task, task_score, token_tag_sequences
from mtdnn.training.preparation import prepare_split
from mtdnn.training.run_mtdnn import main, write_predictions
from mtdnn.training.task_files import TaskDataSpec, load_task_specs
from mtdnn.training.trainer import MTDNNTrainer

from .conftest import minilm_folder, tiny_bert_config, write_local_copy
from .test_run_mtdnn import common_flags, encoder_dir  # noqa: F401 (a fixture)
from .test_task_files import pairs

TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
NER = {"task_type": "token_classification", "id2label": dict(enumerate(TAGS))}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def sentences(**columns) -> datasets.Dataset:
    data = {
        "tokens": [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["Brusselsxyz", "is", "big"]],
        "ner_tags": [[3, 0, 7, 0], [1, 2], [5, 0, 0]],
    }
    return datasets.Dataset.from_dict(data | columns)


def conll_spec(**overrides) -> TaskDataSpec:
    return (
        load_task_specs(["conll2003"])["conll2003"]
        if not overrides
        else TaskDataSpec(
            **{
                "name": "conll2003",
                "dataset": "eriktks/conll2003",
                "config": "conll2003",
                "text_columns": ["tokens"],
                "label_column": "ner_tags",
                "task_type": "token_classification",
                "label_names": TAGS,
                "metric": "seqeval",
            }
            | overrides
        )
    )


def test_the_spec_takes_classes_and_refuses_san_and_pairs():
    spec = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"ner": NER}).tasks["ner"]
    assert spec["num_labels"] == 9 and spec["id2label"][1] == "B-PER" and spec["head"] == "linear"
    with pytest.raises(ValueError, match=re.escape("Task 'ner': field 'head' must be 'linear' for task_type 'token_classification' (the SAN head is for classification), got 'san'.")):  # fmt: skip
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"ner": NER | {"head": "san"}})
    with pytest.raises(ValueError, match=re.escape("Task 'ner': field 'inputs' must be 'single' or left out for task_type 'token_classification'")):  # fmt: skip
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"ner": NER | {"inputs": "pair"}})
    with pytest.raises(ValueError, match=re.escape("Task 'ner': a token_classification task needs 'num_labels' or 'id2label'")):  # fmt: skip
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"ner": {"task_type": "token_classification"}})


def test_the_head_scores_every_token_and_the_loss_ignores_unlabelled_ones():
    torch.manual_seed(0)
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"ner": NER})).eval()
    input_ids = torch.randint(5, 99, (2, 6))
    labels = torch.tensor([[-100, 1, 2, 0, -100, -100], [-100, 3, -100, 4, 0, -100]])
    output = model(input_ids=input_ids, task_name="ner", labels=labels)
    assert output.logits.shape == (2, 6, 9)
    hidden = model.encoder(input_ids=input_ids).last_hidden_state
    assert torch.allclose(output.logits, model.heads["ner"].classifier(hidden), atol=1e-6)
    kept = labels != -100
    expected = F.cross_entropy(output.logits[kept], labels[kept])
    assert torch.allclose(output.loss, expected, atol=1e-6)
    with pytest.raises(ValueError, match=re.escape("Task 'ner' (token_classification): labels of shape (2,) do not match logits of shape (2, 6, 9); give one label per token (-100 for the unlabelled ones).")):  # fmt: skip
        model(input_ids=input_ids, task_name="ner", labels=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=re.escape("Task 'ner' (token_classification): label 9 is out of range")):
        model(input_ids=input_ids, task_name="ner", labels=labels.masked_fill(labels == 4, 9))


def test_tags_go_to_each_words_first_sub_token(tokenizer):
    data = sentences()
    prepared = prepare_split(conll_spec(), data, tokenizer, max_seq_length=32)
    assert prepared.column_names == ["input_ids", "token_type_ids", "attention_mask", "word_ids", "num_words", "labels", "word_tags", "task_name"]  # fmt: skip
    assert prepared["num_words"] == [4, 2, 3] and prepared["word_tags"] == data["ner_tags"]
    for row in range(len(data)):
        encoded = tokenizer(data[row]["tokens"], is_split_into_words=True)
        words = encoded.word_ids()
        assert prepared[row]["word_ids"] == [-1 if word is None else word for word in words]
        labels = prepared[row]["labels"]
        assert len(labels) == len(prepared[row]["input_ids"]) == len(words)
        expected, previous = [], None
        for word in words:
            expected.append(-100 if word is None or word == previous else data[row]["ner_tags"][word])
            previous = word
        assert labels == expected
    # "Brusselsxyz" splits into several sub-tokens: only the first carries B-LOC
    third = prepared[2]["labels"]
    assert third[1] == 5 and third[2] == -100 and third[0] == third[-1] == -100
    # tag names work like tag ids
    named = sentences(ner_tags=[["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC", "O", "O"]])
    assert prepare_split(conll_spec(), named, tokenizer, max_seq_length=32)["labels"] == prepared["labels"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"ner_tags": [[3, 0, 7], [1, 2], [5, 0, 0]]},
            "Task 'conll2003', split 'train', row 0: 4 words in 'tokens' but 3 tags in 'ner_tags'; every word needs "
            "exactly one tag. Fix or drop the row.",
        ),
        (
            {"ner_tags": [[3, 0, 7, 0], [1, 12], [5, 0, 0]]},
            "Task 'conll2003', split 'train', row 1: tag 12 of word 1 ('Blackburn') in 'ner_tags' is not one of the "
            "task's label_names",
        ),
        (
            {"ner_tags": [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC", "O", "B-DATE"]]},
            "Task 'conll2003', split 'train', row 2: tag 'B-DATE' of word 2 ('big') in 'ner_tags' is not one of",
        ),
        (
            {"tokens": [["EU", "rejects", "German", "call"], [], ["a", "b", "c"]]},
            "Task 'conll2003', split 'train': column 'tokens' holds [] at row 1, but token classification needs a "
            "non-empty list of non-empty words per row",
        ),
    ],
)
def test_bad_rows_are_refused_with_task_split_row_and_field(tokenizer, columns, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_split(conll_spec(), sentences(**columns), tokenizer, split="train")


def test_task_file_checks_of_token_tasks():
    with pytest.raises(ValueError, match=re.escape("Task 'conll2003': field 'text_columns' must be one column of word lists for token_classification")):  # fmt: skip
        conll_spec(text_columns=["tokens", "pos_tags"])
    with pytest.raises(ValueError, match=re.escape("Task 'conll2003': field 'metric' must be a metric for task_type 'token_classification', one of ['seqeval', 'token_accuracy'], got 'accuracy'.")):  # fmt: skip
        conll_spec(metric="accuracy")
    with pytest.raises(ValueError, match=re.escape("Task 'conll2003': field 'head' must be 'linear' for token_classification")):  # fmt: skip
        conll_spec(head="san")
    with pytest.raises(ValueError, match=re.escape("Task 'rte': field 'metric' must be a metric for task_type 'classification'")):  # fmt: skip
        TaskDataSpec(name="rte", dataset="d", text_columns=["a", "b"], task_type="classification", label_names=["x", "y"], metric="seqeval")  # fmt: skip


def test_the_collator_pads_tags_with_ignore_index(tokenizer):
    prepared = prepare_split(conll_spec(), sentences(), tokenizer, max_seq_length=32)
    batch = MultiTaskDataCollator(tokenizer)([prepared[i] for i in range(3)])
    assert batch["labels"].shape == batch["input_ids"].shape and batch["labels"].dtype == torch.long
    for i in range(3):
        length = len(prepared[i]["labels"])
        assert batch["labels"][i, :length].tolist() == prepared[i]["labels"]
        assert (batch["labels"][i, length:] == -100).all()


def test_entity_scores_are_seqevals():
    id2label = dict(enumerate(TAGS))
    gold = [[-100, 1, 2, 0, 5, -100], [-100, 3, 4, 0, -100, -100]]
    logits = np.full((2, 6, 9), -5.0)
    predicted_ids = [[0, 1, 2, 0, 0, 0], [0, 3, 0, 0, 0, 0]]  # PER right, LOC missed, ORG cut short
    for row, ids in enumerate(predicted_ids):
        for position, tag in enumerate(ids):
            logits[row, position, tag] = 5.0
    predicted, references = token_tag_sequences(logits, gold, id2label)
    assert references == [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"]]
    assert predicted == [["B-PER", "I-PER", "O", "O"], ["B-ORG", "O", "O"]]
    metrics = compute_task_metrics("conll2003", "seqeval", predicted, references)
    # 3 gold entities (PER, LOC, ORG), 2 predicted (PER right, ORG of one word instead of two): 1 correct
    assert metrics == pytest.approx({"precision": 0.5, "recall": 1 / 3, "f1": 0.4, "accuracy": 5 / 7})
    assert task_score(metrics) == pytest.approx(0.4)
    with pytest.raises(ValueError, match=re.escape("Task 'conll2003': example 0 has 3 predicted tags but 4 gold tags.")):  # fmt: skip
        compute_task_metrics("conll2003", "seqeval", [["O"] * 3, ["O"] * 3], references)


def test_a_parent_data_folder_serves_tasks_of_several_datasets(tmp_path):
    glue = write_local_copy(tmp_path / "data" / "glue", {"rte": {"train": pairs(), "validation": pairs()}})
    conll = write_local_copy(tmp_path / "data" / "conll2003", {"conll2003": {"train": sentences()}})
    assert local_dataset_folder(tmp_path / "data", "nyu-mll/glue") == str(glue)
    assert local_dataset_folder(tmp_path / "data", "eriktks/conll2003") == str(conll)
    # a dataset's own copy is used as it is, even when a config folder has the dataset's name
    assert local_dataset_folder(conll, "eriktks/conll2003") == str(conll)


def test_ner_trains_beside_a_sentence_task_in_one_run(encoder_dir, tmp_path):  # noqa: F811
    data = tmp_path / "data"
    write_local_copy(data / "glue", {"rte": {"train": pairs(), "validation": pairs()}})
    write_local_copy(data / "conll2003", {"conll2003": {"train": sentences(), "validation": sentences()}})
    flags = ["--tasks", "conll2003,rte", "--do_train", "--do_eval", "--max_steps", "3", "--per_device_train_batch_size", "2", "--save_strategy", "no"]  # fmt: skip
    metrics = main(common_flags(encoder_dir, tmp_path / "out", data) + flags)
    assert metrics["train_conll2003_samples"] == 3 and metrics["train_rte_samples"] == 3
    ner = {key: metrics[f"eval_conll2003_{key}"] for key in ("precision", "recall", "f1", "accuracy")}
    assert all(0 <= value <= 1 for value in ner.values())
    assert metrics["eval_average"] == pytest.approx((ner["f1"] + metrics["eval_rte_accuracy"]) / 2)
    model = MTDNNForMultiTask.from_pretrained(tmp_path / "out")
    assert model.config.tasks["conll2003"]["task_type"] == "token_classification"
    # predictions: one tag per word of each test row, keyed by the row's id
    ided = sentences(id=["s1", "s2", "s3"])
    write_local_copy(data / "conll2003", {"conll2003": {"train": ided, "validation": ided, "test": ided}})
    predict = ["--init_from", str(tmp_path / "out"), "--tasks", "conll2003", "--do_predict", "--output_dir", str(tmp_path / "pred")]  # fmt: skip
    main(common_flags(encoder_dir, tmp_path / "pred", data)[2:] + predict)
    rows = (tmp_path / "pred" / "predictions" / "conll2003.tsv").read_text().splitlines()
    # Batches grouped by length tag every row alike (rows are put back in dataset order).
    grouped = ["--train_sampling_strategy", "group_by_length", "--per_device_eval_batch_size", "2"]
    main(
        common_flags(encoder_dir, tmp_path / "grouped", data)[2:]
        + predict[:-1]
        + [str(tmp_path / "grouped"), *grouped]
    )
    assert (tmp_path / "grouped" / "predictions" / "conll2003.tsv").read_text().splitlines() == rows
    assert rows[0] == "index\tprediction\tunseen_words"
    assert [row.split("\t")[0] for row in rows[1:]] == ["s1", "s2", "s3"]
    for row, words in zip(rows[1:], sentences()["tokens"]):
        _, tags, unseen = row.split("\t")
        assert len(tags.split(" ")) == len(words) and set(tags.split(" ")) <= set(TAGS) and unseen == ""
    assert model.config.tasks["conll2003"]["id2label"] == dict(enumerate(TAGS))


@pytest.fixture(scope="module")
def ner_model(tokenizer):
    torch.manual_seed(0)
    tasks = {"ner": NER, "sst2": {"task_type": "classification", "num_labels": 2}}
    config = MTDNNConfig(encoder_config=tiny_bert_config(vocab_size=tokenizer.vocab_size), tasks=tasks)
    return MTDNNForMultiTask(config).eval()


def test_export_gives_identical_logits_and_transformers_pipeline_finds_the_same_entities(ner_model, tokenizer):
    exported = ner_model.export_task("ner")
    assert type(exported).__name__ == "BertForTokenClassification"
    assert exported.config.id2label == dict(enumerate(TAGS))
    text = "Peter Blackburn went to Brusselsxyz with the EU."
    encoded = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(exported(**encoded).logits, ner_model(**encoded, task_name="ner").logits, atol=1e-5)
    ours = pipeline("mtdnn", model=ner_model, tokenizer=tokenizer)(text, task_name="ner")
    stock = pipeline("token-classification", model=exported, tokenizer=tokenizer, aggregation_strategy="first")(text)
    assert ours and [(e["entity_group"], e["start"], e["end"]) for e in ours] == [
        (e["entity_group"], e["start"], e["end"]) for e in stock
    ]
    assert [e["score"] for e in ours] == pytest.approx([float(e["score"]) for e in stock], abs=1e-5)
    assert all(e["word"] == text[e["start"] : e["end"]] for e in ours)


def test_the_pipeline_groups_words_into_entities():
    id2label = dict(enumerate(TAGS))
    text = "Peter Blackburnxyz met EU"
    # tokens: [CLS] Peter Black ##burn ##xyz met EU [SEP]; words 0, 1, 1, 1, 2, 3
    word_ids = torch.tensor([[-1, 0, 1, 1, 1, 2, 3, -1]])
    offsets = torch.tensor([[[0, 0], [0, 5], [6, 11], [11, 15], [15, 18], [19, 22], [23, 25], [0, 0]]])
    tags = [0, 1, 2, 7, 7, 0, 3, 0]  # a later sub-token's tag is ignored: the word is I-PER
    logits = torch.full((8, 9), -4.0)
    for position, tag in enumerate(tags):
        logits[position, tag] = 4.0
    outputs = {"word_ids": word_ids, "offset_mapping": offsets, "text": text}
    entities = get_task_type("token_classification").pipeline_result(logits[None], outputs, {"id2label": id2label})
    score = torch.softmax(logits[1], dim=-1)[1].item()
    assert entities == [
        {"entity_group": "PER", "score": pytest.approx(score), "word": "Peter Blackburnxyz", "start": 0, "end": 18},
        {"entity_group": "ORG", "score": pytest.approx(score), "word": "EU", "start": 23, "end": 25},
    ]


def test_one_pass_serves_token_and_sentence_tasks_and_refuses_pairs_for_token_tasks(ner_model, tokenizer):
    classifier = pipeline("mtdnn", model=ner_model, tokenizer=tokenizer)
    both = classifier("EU rejects German call")
    assert set(both) == {"ner", "sst2"} and isinstance(both["ner"], list) and "label" in both["sst2"]
    assert both["ner"] == classifier("EU rejects German call", task_name="ner")
    encoded = tokenizer("EU rejects German call", return_tensors="pt")
    with torch.no_grad():
        logits = ner_model(**encoded, task_name=None).task_logits
    assert logits["ner"].shape == (1, encoded["input_ids"].shape[1], 9) and logits["sst2"].shape == (1, 2)
    with pytest.raises(ValueError, match=re.escape("Task(s) ['ner'] tag the words of one text, but a text_pair came")):
        classifier({"text": "EU rejects", "text_pair": "German call"}, task_name="ner")


# Words the model never sees: a zero-width space and a soft hyphen (no tokens), and the last two words of a row longer
# than max_seq_length 8 ([CLS] + 6 tokens + [SEP]: "in" is the last word seen, "Paris" and "today" are cut off).
UNSEEN_ROWS = {
    "tokens": [
        ["EU", "\u200b", "rejects", "\u00ad", "German", "call"],
        ["Peter", "Blackburn", "met", "John", "Smith", "in", "Paris", "today"],
        ["Brussels"],
    ],
    "ner_tags": [
        ["B-ORG", "O", "O", "O", "B-MISC", "O"],
        ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "O"],
        ["B-LOC"],
    ],
}
UNSEEN_WARNING = (
    "Task 'conll2003', split '{split}': the model does not see 4 word(s) in 2 of 3 rows: 2 that the tokenizer turns "
    "into no tokens (zero-width spaces, soft hyphens, control characters); 2 cut off by max_seq_length 8. {what} "
    "prediction files tag them 'O' and list their positions in the 'unseen_words' column. To see them, drop or clean "
    "such words and raise max_seq_length to keep long rows whole."
)


def gold_logits(prepared: datasets.Dataset, gold: list[list[str]]) -> np.ndarray:
    """Logits (padded like the evaluation loop's) that predict each seen word's gold tag at its first sub-token."""
    length = max(len(ids) for ids in prepared["input_ids"])
    logits = np.full((len(prepared), length, len(TAGS)), -5.0)
    logits[:, :, 0] = 5.0  # O everywhere else
    for row, (word_ids, tags) in enumerate(zip(prepared["word_ids"], gold)):
        previous = -1
        for position, word in enumerate(word_ids):
            if word >= 0 and word != previous:
                logits[row, position, 0] = -5.0
                logits[row, position, TAGS.index(tags[word])] = 5.0
            previous = word
    return logits


def test_words_the_model_never_sees_keep_their_place_and_are_scored_as_missed(tokenizer, caplog):
    data = datasets.Dataset.from_dict(UNSEEN_ROWS)
    with caplog.at_level("WARNING", logger="mtdnn.training.prepare_tokens"):
        prepared = prepare_split(conll_spec(), data, tokenizer, max_seq_length=8, split="validation")
    what = "They are not trained, evaluation scores them as predicted 'O' (a gold entity there counts as missed), and"
    assert UNSEEN_WARNING.format(split="validation", what=what) in caplog.text
    assert prepared["word_ids"][0] == [-1, 0, 2, 4, 5, -1] and prepared["num_words"] == [6, 8, 1]
    assert prepared["word_tags"] == [[TAGS.index(tag) for tag in row] for row in UNSEEN_ROWS["ner_tags"]]

    kind = get_task_type("token_classification")
    spec = conll_spec().model_spec()
    logits = gold_logits(prepared, UNSEEN_ROWS["ner_tags"])
    decoded = kind.decode(logits, prepared)
    assert [len(row) for row in decoded] == [6, 8, 1]  # one tag per word: none shifts left
    assert decoded[0] == [3, -100, 0, -100, 7, 0] and decoded[1][5:] == [0, -100, -100]
    predicted, gold = kind.metric_inputs(decoded, kind.references(prepared), spec)
    assert gold == UNSEEN_ROWS["ner_tags"]
    assert predicted[1] == ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "O", "O"]  # unseen words: predicted O
    # 6 gold entities, 5 found (LOC "Paris" was cut off): recall 5/6; 14 of 15 tags right
    expected = {"precision": 1.0, "recall": 5 / 6, "f1": 10 / 11, "accuracy": 14 / 15}
    assert score_task("conll2003", spec, "seqeval", prepared, logits) == pytest.approx(expected)


def test_prediction_files_give_every_word_a_tag_and_list_the_unseen_ones(tokenizer, caplog, tmp_path):
    data = datasets.Dataset.from_dict({"tokens": UNSEEN_ROWS["tokens"]})
    with caplog.at_level("WARNING", logger="mtdnn.training.prepare_tokens"):
        prepared = prepare_split(conll_spec(), data, tokenizer, max_seq_length=8, with_labels=False, split="test")
    assert UNSEEN_WARNING.format(split="test", what="The model predicts no tag for them:") in caplog.text
    assert "word_tags" not in prepared.column_names and prepared["num_words"] == [6, 8, 1]
    logits = gold_logits(prepared, UNSEEN_ROWS["ner_tags"])

    class Trainer:  # what write_predictions asks of MTDNNTrainer, with fixed logits
        model = SimpleNamespace(config=SimpleNamespace(tasks={"conll2003": conll_spec().model_spec()}))
        predictions_of = MTDNNTrainer.predictions_of

        def predict(self, dataset, metric_key_prefix):
            return SimpleNamespace(predictions=logits)

        def is_world_process_zero(self):
            return True

    written = write_predictions(Trainer(), {"conll2003": (conll_spec(), prepared, ["a", "b", "c"])}, str(tmp_path))
    assert written == [str(tmp_path / "predictions" / "conll2003.tsv")]
    assert (tmp_path / "predictions" / "conll2003.tsv").read_text().splitlines() == [
        "index\tprediction\tunseen_words",
        "a\tB-ORG O O O B-MISC O\t1 3",
        "b\tB-PER I-PER O B-PER I-PER O O O\t6 7",
        "c\tB-LOC\t",
    ]


# Tag sets of the schemes seqeval's default mode reads; the pipeline must find the entities it scores.
SCHEMES = {
    "IOB2": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "IOB1": ["O", "I-PER", "I-LOC", "B-PER", "B-LOC"],
    "IO with I- only": ["O", "I-PER", "I-LOC"],
    "IOBES": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"],
}


def pipeline_entities(tags: list[str], id2label: dict[int, str]) -> list[tuple[str, int, int]]:
    """The pipeline's entities for words `w0 w1 ...` tagged `tags`, as (type, start, end) character spans."""
    words = [f"w{i}" for i in range(len(tags))]
    text = " ".join(words)
    starts = [sum(len(word) + 1 for word in words[:i]) for i in range(len(words))]
    word_ids = torch.tensor([[-1, *range(len(words)), -1]])
    offsets = torch.tensor([[[0, 0], *([start, start + len(word)] for start, word in zip(starts, words)), [0, 0]]])
    logits = torch.full((1, len(words) + 2, len(id2label)), -4.0)
    label2id = {name: i for i, name in id2label.items()}
    for position, tag in enumerate(["O", *tags, "O"]):
        logits[0, position, label2id[tag]] = 4.0
    inputs = {"word_ids": word_ids, "offset_mapping": offsets, "text": text}
    entities = get_task_type("token_classification").pipeline_result(logits, inputs, {"id2label": id2label})
    assert all(entity["word"] == text[entity["start"] : entity["end"]] for entity in entities)
    return [(entity["entity_group"], entity["start"], entity["end"]) for entity in entities]


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_pipeline_entities_are_the_ones_seqeval_scores(scheme):
    from seqeval.metrics.sequence_labeling import get_entities

    tags = SCHEMES[scheme]
    spec = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"ner": {"task_type": "token_classification", "id2label": dict(enumerate(tags))}}).tasks["ner"]  # fmt: skip
    generator = np.random.default_rng(0)
    gold = [[str(tag) for tag in generator.choice(tags, size=generator.integers(1, 9))] for _ in range(40)]
    predicted = [
        [str(tag) if generator.random() < 0.7 else str(generator.choice(tags)) for tag in row] for row in gold
    ]

    def found(rows):  # the pipeline's entities of every row, as seqeval's (type, first word, last word)
        spans = set()
        for row, sequence in enumerate(rows):
            entities = pipeline_entities(sequence, spec["id2label"])  # words "w0 w1 ...": word i at 3 * i
            words = [(kind, start // 3, (end - 2) // 3) for kind, start, end in entities]
            assert words == get_entities(sequence)  # word for word the chunks seqeval reads
            spans |= {(row, *word) for word in words}
        return spans

    ours, theirs = found(predicted), found(gold)
    precision, recall = len(ours & theirs) / len(ours), len(ours & theirs) / len(theirs)
    metrics = compute_task_metrics("ner", "seqeval", predicted, gold)
    assert metrics["precision"] == pytest.approx(precision) and metrics["recall"] == pytest.approx(recall)
    assert metrics["f1"] == pytest.approx(2 * precision * recall / (precision + recall))


@pytest.mark.parametrize(
    ("tags", "bad", "more"),
    [
        (["O", "PER", "LOC"], "PER", " (and 1 more: ['LOC'])"),  # IO tags without prefixes: 'ORG' would read as O
        (["O", "B-PER", "I-PER", "L-PER", "U-PER"], "L-PER", " (and 1 more: ['U-PER'])"),  # BILOU
        (["O", "PER-B", "PER-I"], "PER-B", " (and 1 more: ['PER-I'])"),  # suffixes
        (["O", "B", "I"], "B", " (and 1 more: ['I'])"),  # chunks without a type
    ],
)
def test_tag_schemes_seqeval_misreads_are_refused_when_the_task_is_built(tags, bad, more):
    seqeval_type = bad[1:].split("-", 1)[-1] or "_"
    message = (
        f"Task 'conll2003': field 'id2label' (a task file's 'label_names') holds the tag {bad!r}{more}, but every tag "
        "must be 'O' or 'B-', 'I-', 'E-' or 'S-' followed by the entity type (IOB2, IOB1 or IOBES): seqeval would "
        f"score {bad!r} as prefix {bad[0]!r} of type {seqeval_type!r} and the pipeline would find no entity in it. "
        "Prefix the tags as IOB2 does: 'B-PER' on an entity's first word, 'I-PER' on the next ones, 'O' outside "
        "(BILOU's L- becomes I-, U- becomes B-)."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"conll2003": {"task_type": "token_classification", "id2label": dict(enumerate(tags))}})  # fmt: skip
    with pytest.raises(ValueError, match=re.escape(message)):  # a task file's label_names, when it is read
        conll_spec(label_names=tags)
    with pytest.raises(ValueError, match=re.escape(f"Task 'conll2003': gold tag {bad!r} is not of a scheme seqeval scores (IOB2, IOB1, IOBES: 'O', or 'B-', 'I-', 'E-', 'S-' then the entity type); prefix the task's tag names, as 'B-PER' / 'I-PER'.")):  # fmt: skip
        compute_task_metrics("conll2003", "seqeval", [["O", "O"]], [["O", bad]])

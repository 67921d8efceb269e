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
"""Model cards render offline from the template, with the Hub's model-index, and are written on every save."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from transformers import BertConfig

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask
from mtdnn.model_cards import PLOT_FILE, MTDNNModelCardData, generate_model_card, write_model_card

CARD_DATA = MTDNNModelCardData(
    model_id="org/mt-dnn-tiny",
    task_datasets={
        "rte": {"dataset": "nyu-mll/glue", "config": "rte", "split": "validation", "metric": "rte"},
        "stsb": {"dataset": "nyu-mll/glue", "config": "stsb", "split": "validation", "metric": "stsb"},
        "mnli": {"dataset": "nyu-mll/glue", "config": "mnli", "split": "validation_matched", "metric": "mnli"},
        "mnli_mm": {
            "dataset": "nyu-mll/glue",
            "config": "mnli",
            "split": "validation_mismatched",
            "metric": "mnli_mm",
            "rows": 3000,
            "split_rows": 9832,
        },
    },
    eval_results={
        "eval_rte_accuracy": 0.625,
        "eval_rte_loss": 0.69,
        "eval_stsb_pearson": 0.8,
        "eval_stsb_spearmanr": 0.7,
        "eval_mnli_accuracy": 0.5,
        "eval_mnli_mm_accuracy": 0.25,
        "eval_average": 0.59,
    },
    training_data={"rte": 2490, "stsb": 5749, "mnli": 1000},
    data_settings={"train_fraction": 0.1, "max_seq_length": 128},
    hyperparameters={"optim": "adamax", "learning_rate": 5e-05, "sampling_strategy": "proportional"},
)

# The whole card, with `.*` holes where text is long or version-dependent (setfit's model_card_pattern style).
CARD_PATTERN = re.compile(
    r"""---
.*model-index:.*
---

# mt-dnn-tiny

This is an \[MT-DNN\]\(https://arxiv.org/abs/1901.11504\) model: one shared Transformer encoder \(initialised from a local encoder folder, `MiniLM-L6-H384-uncased` by its own model card or config\) with a small head per task.*

## Tasks

\| task \| type \| head \| labels \| metric \| dev set \| dev score \|
\| --- \| --- \| --- \| --- \| --- \| --- \| --- \|
\| cola \| classification \| linear \| LABEL_0, LABEL_1 \| — \| — \| <!-- not evaluated --> \|
\| mnli \| classification \| san \| LABEL_0, LABEL_1, LABEL_2 \| accuracy \| validation_matched<br>validation_mismatched \(first 3,000 of 9,832 rows\) \| 0\.5000<br>0\.2500 \|
\| qnli \| ranking \| linear \| relevance score per candidate \| — \| — \| <!-- not evaluated --> \|
\| rte \| classification \| san \| entailment, not_entailment \| accuracy \| validation \| 0\.6250 \|
\| sst2 \| classification \| linear \| negative, positive \| — \| — \| <!-- not evaluated --> \|
\| stsb \| regression \| linear \| real-valued score \| pearson, spearmanr \| validation \| 0\.8000, 0\.7000 \|
+
Linear heads read the encoder's pooled \[CLS\] vector \(the first token's final hidden state where the encoder has no pooler\) \(`pooling="auto"`\); SAN heads attend over every token\.

!\[Dev score per task\]\(dev_scores\.png\)

## Usage
.*AutoModel\.from_pretrained\("org/mt-dnn-tiny", trust_remote_code=True\).*
inputs = tokenizer\("A gripping, funny film\.", return_tensors="pt"\)
model\(\*\*inputs, task_name="cola"\)\.logits
inputs = tokenizer\("A man plays a guitar\.", "Someone makes music\.", return_tensors="pt"\)
model\(\*\*inputs, task_name="mnli"\)\.logits
question = "Who wrote Hamlet\?"
candidates = \[.*\]
pairs = tokenizer\(\[question\] \* len\(candidates\), candidates, return_tensors="pt", padding=True\)
model\(\*\*\{key: value\[None\] for key, value in pairs\.items\(\)\}, task_name="qnli"\)\.logits  # \(1, candidates\): one score each
inputs = tokenizer\("A man plays a guitar\.", "Someone makes music\.", return_tensors="pt"\)
model\(\*\*inputs, task_name="rte"\)\.logits
inputs = tokenizer\("A gripping, funny film\.", return_tensors="pt"\)
model\(\*\*inputs, task_name="sst2"\)\.logits
model\(\*\*inputs, task_name="stsb"\)\.logits
model\(\*\*inputs, task_name=None\)\.task_logits  # \{task: logits\} from one encoder pass
```
+Classification logits.*
## Training

\| task \| training examples \|
\| --- \| --- \|
\| rte \| 2490 \|
\| stsb \| 5749 \|
\| mnli \| 1000 \|

Data:

- train_fraction: 0.1
- max_seq_length: 128

Hyperparameters:

- optim: adamax
- learning_rate: 5e-05
- sampling_strategy: proportional
.*## Limitations
.*## Framework versions

- mt-dnn: .*
- Transformers: .*
## Citation
.*Multi-Task Deep Neural Networks for Natural Language Understanding.*""",
    flags=re.DOTALL,
)


@pytest.fixture
def model(tiny_model, tmp_path):
    tiny_model.config.encoder_hint = "MiniLM-L6-H384-uncased"  # as from_encoder records a local encoder
    return tiny_model


def test_card_fullmatches_the_pattern(model):
    card = generate_model_card(model, CARD_DATA, plot_file=PLOT_FILE)
    assert CARD_PATTERN.fullmatch(str(card)), str(card)


def test_card_yaml_parses_and_carries_the_metrics(model):
    card = str(generate_model_card(model, CARD_DATA))
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "apache-2.0" and header["library_name"] == "transformers"
    assert header["datasets"] == ["nyu-mll/glue"] and "mt-dnn" in header["tags"]
    assert "base_model" not in header  # a local encoder folder is no Hub id
    results = header["model-index"][0]["results"]
    found = {(r["task"]["name"], r["dataset"]["config"], r["dataset"]["split"], m["type"], m["value"]) for r in results for m in r["metrics"]}  # fmt: skip
    assert found == {
        ("rte", "rte", "validation", "accuracy", 0.625),
        ("stsb", "stsb", "validation", "pearson", 0.8),
        ("stsb", "stsb", "validation", "spearmanr", 0.7),
        ("mnli", "mnli", "validation_matched", "accuracy", 0.5),
        ("mnli", "mnli", "validation_mismatched[:3000]", "accuracy", 0.25),  # an extra dev set of mnli, cut
    }


def test_hub_encoder_becomes_base_model(model):
    model.config.encoder_config.name_or_path = "google-bert/bert-base-uncased"
    header = yaml.safe_load(str(generate_model_card(model, CARD_DATA)).split("---")[1])
    assert header["base_model"] == "google-bert/bert-base-uncased"


def test_card_names_the_pooling_of_the_linear_heads(model):
    model.config.pooling = "mean"
    card = str(generate_model_card(model, CARD_DATA))
    assert (
        "Linear heads read the mean of the encoder's final token states over the attention mask "
        '(`pooling="mean"`); SAN heads attend over every token.'
    ) in card


def test_untrained_model_card_renders_with_comments_for_missing_values(model):
    card = str(generate_model_card(model, MTDNNModelCardData()))
    assert "<!-- not evaluated -->" in card and "<!-- No training run recorded with this checkpoint. -->" in card
    assert 'AutoModel.from_pretrained("path/to/this/model", trust_remote_code=True)' in card


def test_write_model_card_writes_card_and_plot(model, tmp_path):
    path = write_model_card(model, tmp_path, CARD_DATA)
    assert path == tmp_path / "README.md"
    assert (tmp_path / PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"![Dev score per task]({PLOT_FILE})" in path.read_text()
    assert not list(tmp_path.glob("*.tmp*"))


def test_save_pretrained_writes_the_card(model, tmp_path):
    model.model_card_data = CARD_DATA
    model.save_pretrained(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "| rte | classification | san | entailment, not_entailment | accuracy | validation | 0.6250 |" in text


def test_evaluation_keys_belong_to_the_longest_matching_task(model):
    model.add_task("rte_dev", {"task_type": "classification", "num_labels": 2})
    data = MTDNNModelCardData(
        task_datasets={"rte_dev": {"dataset": "org/rte-dev", "config": "", "split": "validation", "metric": "rte"}},
        eval_results={"eval_rte_dev_accuracy": 0.5},
    )
    card = str(generate_model_card(model, data))
    header = yaml.safe_load(card.split("---")[1])
    assert [r["dataset"]["type"] for r in header["model-index"][0]["results"]] == ["org/rte-dev"]
    assert "| rte_dev | classification | linear | LABEL_0, LABEL_1 | accuracy | validation | 0.5000 |" in card
    assert "| rte | classification | san | entailment, not_entailment | — | — | <!-- not evaluated --> |" in card


def test_undefined_scores_read_as_such_and_stay_out_of_the_model_index(model):
    data = MTDNNModelCardData(
        task_datasets=CARD_DATA.task_datasets,
        eval_results={
            "eval_rte_accuracy": 0.625,
            "eval_stsb_pearson": float("nan"),
            "eval_stsb_spearmanr": float("nan"),
        },
    )
    card = str(generate_model_card(model, data))
    assert "| stsb | regression | linear | real-valued score | pearson, spearmanr | validation | undefined (NaN), undefined (NaN) |" in card  # fmt: skip
    header = yaml.safe_load(card.split("---")[1])
    assert [r["task"]["name"] for r in header["model-index"][0]["results"]] == ["rte"]


CARD_WITHOUT_IMPORT = """
import sys, torch
sys.path.insert(0, {repo!r})
import modeling_mtdnn  # the package alone: model_cards is never imported here
from transformers import BertConfig
config = modeling_mtdnn.MTDNNConfig(encoder_config=BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37), tasks={{"sst2": {{"task_type": "classification", "num_labels": 2}}}})
modeling_mtdnn.MTDNNForMultiTask(config).save_pretrained(sys.argv[1])
assert "mtdnn.model_cards" in sys.modules  # loaded through the entry point, on demand
"""


def test_an_installed_package_writes_the_card_without_importing_model_cards(tmp_path):
    script = tmp_path / "save.py"
    script.write_text(CARD_WITHOUT_IMPORT.format(repo=str(Path(__file__).resolve().parents[1])))
    completed = subprocess.run([sys.executable, str(script), str(tmp_path / "out")], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| sst2 | classification | linear |" in (tmp_path / "out" / "README.md").read_text()


def test_without_a_card_writer_the_model_still_saves(model, tmp_path, monkeypatch):
    import modeling_mtdnn.modeling_mtdnn as modeling

    monkeypatch.setattr(MTDNNForMultiTask, "model_card_writer", None)
    monkeypatch.setattr(MTDNNForMultiTask, "_card_writer_looked_up", False)
    monkeypatch.setattr(modeling, "entry_points", lambda group: [])  # a Hub-shipped folder, no package installed
    model.save_pretrained(tmp_path / "plain")
    assert (tmp_path / "plain" / "model.safetensors").is_file() and not (tmp_path / "plain" / "README.md").exists()

    class Broken:
        name, value = "broken", "missing_module:write"

        def load(self):
            raise ImportError("No module named 'missing_module'")

    monkeypatch.setattr(MTDNNForMultiTask, "_card_writer_looked_up", False)
    monkeypatch.setattr(modeling, "entry_points", lambda group: [Broken()])
    model.save_pretrained(tmp_path / "broken")
    assert (tmp_path / "broken" / "model.safetensors").is_file() and not (tmp_path / "broken" / "README.md").exists()


def test_card_of_token_and_span_tasks_carries_their_hub_task_types_and_metrics():
    from modeling_mtdnn import MTDNNConfig

    from .conftest import tiny_bert_config

    tags = {0: "O", 1: "B-PER", 2: "I-PER"}
    tasks = {"conll2003": {"task_type": "token_classification", "id2label": tags}, "squad": {"task_type": "span_extraction"}}  # fmt: skip
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=tiny_bert_config(), tasks=tasks))
    data = MTDNNModelCardData(
        task_datasets={
            "conll2003": {
                "dataset": "eriktks/conll2003",
                "config": "conll2003",
                "split": "validation",
                "metric": "seqeval",
            },  # fmt: skip
            "squad": {"dataset": "rajpurkar/squad", "config": "plain_text", "split": "validation", "metric": "squad"},
        },
        eval_results={
            "eval_conll2003_precision": 0.8,
            "eval_conll2003_recall": 0.7,
            "eval_conll2003_f1": 0.75,
            "eval_conll2003_accuracy": 0.9,
            "eval_squad_exact_match": 0.5,
            "eval_squad_f1": 0.6,
        },  # fmt: skip
    )
    card = str(generate_model_card(model, data))
    header = yaml.safe_load(card.split("---")[1])
    assert {"token-classification", "question-answering"} <= set(header["tags"])
    results = header["model-index"][0]["results"]
    found = {(r["task"]["type"], r["task"]["name"], m["type"], m["value"]) for r in results for m in r["metrics"]}
    assert found == {
        ("token-classification", "conll2003", "precision", 0.8),
        ("token-classification", "conll2003", "recall", 0.7),
        ("token-classification", "conll2003", "f1", 0.75),
        ("token-classification", "conll2003", "accuracy", 0.9),
        ("question-answering", "squad", "exact_match", 0.5),
        ("question-answering", "squad", "f1", 0.6),
    }
    assert "| conll2003 | token_classification | linear | O, B-PER, I-PER | precision, recall, f1, accuracy |" in card
    assert "| squad | span_extraction | linear | answer span in the context (start and end token) |" in card
    assert 'model(**qa, task_name="squad").logits' in card and 'model(**words, task_name="conll2003").logits' in card


def test_label_names_with_pipes_or_line_breaks_stay_in_their_table_cell():
    encoder = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
    )
    labels = {0: "yes | sure", 1: "no\nway"}
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=encoder, tasks={"t": {"task_type": "classification", "id2label": labels}}))  # fmt: skip
    rows = [line for line in str(generate_model_card(model)).splitlines() if line.startswith("| t |")]
    assert rows == [r"| t | classification | linear | yes \| sure, no way | — | — | <!-- not evaluated --> |"]


def test_a_local_encoder_is_named_by_its_model_card_before_its_config(tmp_path):
    from modeling_mtdnn.modeling_mtdnn import _local_encoder_hint

    folder = tmp_path / "gt_minilm"
    folder.mkdir()
    assert _local_encoder_hint(str(folder)) == "gt_minilm"  # nothing inside: the folder's name
    (folder / "config.json").write_text('{"_name_or_path": "nreimers/MiniLM-L6-H384-uncased"}')
    assert _local_encoder_hint(str(folder)) == "nreimers/MiniLM-L6-H384-uncased"
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n\n# all-MiniLM-L6-v2\nA sentence encoder.\n")
    assert _local_encoder_hint(str(folder)) == "all-MiniLM-L6-v2"  # the card's title beats what the config recorded
    with (folder / "README.md").open("a") as card:
        card.write("model = SentenceTransformer('sentence-transformers/all-MiniLM-L6-v2')\n")
    assert _local_encoder_hint(str(folder)) == "sentence-transformers/all-MiniLM-L6-v2"  # the id it is loaded by


def test_the_packaged_minilm_is_named_as_the_demo_trains_it():
    from modeling_mtdnn.modeling_mtdnn import _local_encoder_hint

    from .conftest import minilm_folder

    assert _local_encoder_hint(minilm_folder()) == "sentence-transformers/all-MiniLM-L6-v2"


TOKENIZER_ONLY = """
import sys
from transformers import AutoTokenizer
if sys.argv[2] == "package":
    import modeling_mtdnn  # noqa: F401
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
else:
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
print(type(tokenizer).__name__, tokenizer("a b").input_ids)
"""


@pytest.mark.parametrize("how", ["package", "remote code"])
def test_the_saved_tokenizer_loads_as_the_card_says_without_a_question(model, tmp_path, how):
    from transformers import AutoTokenizer

    from .conftest import minilm_folder

    AutoTokenizer.from_pretrained(minilm_folder()).save_pretrained(tmp_path / "model")
    model.save_pretrained(tmp_path / "model")
    assert "tokenizer = AutoTokenizer.from_pretrained(" in (tmp_path / "model" / "README.md").read_text()
    script = tmp_path / "load.py"
    script.write_text(TOKENIZER_ONLY)
    # stdin closed: a question about custom code would end at once, in a warning the test refuses.
    completed = subprocess.run([sys.executable, str(script), str(tmp_path / "model"), how], capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == "BertTokenizer [101, 1037, 1038, 102]"
    assert "custom code" not in completed.stdout + completed.stderr
    assert "model of type" not in completed.stderr

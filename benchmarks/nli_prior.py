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
"""How much natural-language inference an encoder holds before any fine-tuning: frozen-encoder probes on SNLI.

all-MiniLM-L6-v2 was trained contrastively on a billion sentence pairs, SNLI and MultiNLI among them, so part of what
MT-DNN's multi-task stage would teach (MNLI's transfer to RTE and SNLI) may be in the plain encoder already. With
every encoder weight frozen, this measures:

- `cosine_gap`: the mean cosine similarity of premise and hypothesis embeddings (mean pooling, as the encoder was
  trained) for entailment pairs minus that for contradiction pairs, on SNLI's test split: no training at all;
- `probe_<n>`: the test accuracy of a logistic regression on `[u, v, |u - v|, u * v]` (u, v: the two sentence
  embeddings, as sentence-transformers trains NLI) fitted on n labelled SNLI validation rows (the adaptation
  experiment's sizes), the encoder frozen.

Encoders: the plain encoder, a randomly initialised encoder of the same shape (the floor: no pretraining), and any
MT-DNN checkpoints given (their encoder).

    python benchmarks/nli_prior.py --snli_dir ../shared/data/snli [--checkpoints DIR ...] [--sizes 550,5502]
        [--device cuda] [--bf16]

The encoders embed on `--device` (`--bf16`: with their weights cast to bfloat16); the probes fit on the CPU. The
last line is one JSON object of the figures, with `device` and `dtype`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_args import benchmark_parser, device_figures, inference_device, parse_benchmark_args  # noqa: E402

from mtdnn.training.data_loading import load_raw_split  # noqa: E402
from mtdnn.training.task_files import load_task_specs  # noqa: E402

SNLI_TASK_FILE = Path(__file__).resolve().parent / "tasks" / "snli_adaptation.yaml"


@torch.no_grad()
def embed(encoder, tokenizer, texts: list[str], batch_size: int = 128) -> np.ndarray:
    """
    Mean-pooled final hidden states of each text (in float32, on the CPU), sorted by length into batches for speed;
    the encoder runs where its weights are.
    """
    device = next(encoder.parameters()).device
    order = np.argsort([len(text) for text in texts])
    vectors = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=128, return_tensors="pt")
        batch = batch.to(device)
        states = encoder(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        vectors[rows] = ((states * mask).sum(1) / mask.sum(1)).cpu().numpy()
    return vectors


def pair_features(premises: np.ndarray, hypotheses: np.ndarray) -> np.ndarray:
    return np.concatenate([premises, hypotheses, np.abs(premises - hypotheses), premises * hypotheses], axis=1)


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: 64 test pairs, one probe size.")
    parser.add_argument("--snli_dir", default="../shared/data/snli")
    parser.add_argument("--checkpoints", nargs="*", default=[], help="MT-DNN checkpoints whose encoder to probe.")
    parser.add_argument(
        "--sizes", default="550,5502", help="Comma-separated probe training sizes, rows sampled from SNLI validation."
    )
    parser.add_argument("--seeds", type=int, default=3, help="Seeds per training size.")
    args = parse_benchmark_args(parser, argv)
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from modeling_mtdnn import MTDNNForMultiTask

    spec = load_task_specs(["snli"], [SNLI_TASK_FILE])["snli"]
    labelled = [
        split.filter(lambda row: row["label"] >= 0)
        for split in (
            load_raw_split(spec, "validation", args.snli_dir, role="train"),
            load_raw_split(spec, "test", args.snli_dir, role="validation"),
        )
    ]
    train, test = labelled
    train = train.add_column("row", list(range(len(train))))  # each sample's rows in the embeddings made once below
    sizes = [64] if args.quick else [int(size) for size in args.sizes.split(",")]
    if args.quick:
        train, test = train.select(range(256)), test.select(range(64))
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    torch.manual_seed(0)
    encoders = {
        "plain": AutoModel.from_pretrained(args.model),
        "random": AutoModel.from_config(AutoConfig.from_pretrained(args.model)),
    }
    for path in args.checkpoints:
        encoders[f"mtdnn:{Path(path).name}"] = MTDNNForMultiTask.from_pretrained(path).encoder
    figures: dict = {"test_pairs": len(test), "sizes": sizes, "seeds": args.seeds, **device_figures(args)}
    test_labels = np.asarray(test["label"])
    for name, encoder in encoders.items():
        encoder.to(inference_device(args), torch.bfloat16 if args.bf16 else torch.float32).eval()
        u, v = embed(encoder, tokenizer, test["premise"]), embed(encoder, tokenizer, test["hypothesis"])
        cosine = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
        means = {label: float(cosine[test_labels == label].mean()) for label in (0, 1, 2)}
        figures[f"{name}_cosine"] = {spec.label_names[label]: round(value, 4) for label, value in means.items()}
        figures[f"{name}_cosine_gap"] = round(means[0] - means[2], 4)
        test_features = pair_features(u, v)
        train_features = pair_features(
            embed(encoder, tokenizer, train["premise"]), embed(encoder, tokenizer, train["hypothesis"])
        )
        for size in sizes:
            accuracies = []
            for seed in range(args.seeds):
                sample = train.shuffle(seed=42 + seed).select(range(min(size, len(train))))
                features = train_features[sample["row"]]
                probe = LogisticRegression(max_iter=2000, C=1.0).fit(features, sample["label"])
                accuracies.append(float((probe.predict(test_features) == test_labels).mean()))
            figures[f"{name}_probe_{size}"] = round(float(np.mean(accuracies)), 4)
            figures[f"{name}_probe_{size}_seeds"] = [round(a, 4) for a in accuracies]
    print(f"{'encoder':<28}{'cosine gap':>12}" + "".join(f"{'probe ' + str(size):>14}" for size in sizes))
    for name in encoders:
        cells = "".join(f"{figures[f'{name}_probe_{size}']:>14.4f}" for size in sizes)
        print(f"{name:<28}{figures[f'{name}_cosine_gap']:>12.4f}{cells}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

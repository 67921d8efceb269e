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
"""GLUE-style metrics of MT-DNN as a local `evaluate` module, loadable offline with `evaluate.load(path, config)`."""

from __future__ import annotations

import math

import datasets
import evaluate
import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

__all__ = ["METRIC_CONFIGS", "MtdnnGlue"]

_CITATION = """\
@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={International Conference on Learning Representations},
  year={2019}
}
"""

_DESCRIPTION = """\
The metric of each GLUE task (plus SNLI and SciTail, and generic configs for user tasks), computed with
scikit-learn and SciPy so that it needs no download from the Hugging Face Hub.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int` or `float`):
        The predicted labels (`float` scores for `stsb` and `pearson_spearman`).
    references (`list` of `int` or `float`):
        The gold labels (`float` scores for `stsb` and `pearson_spearman`).
Returns:
    `dict[str, float]`: by config, `matthews_correlation` (cola, matthews); `accuracy` (sst2, mnli, mnli_mm, qnli,
    rte, wnli, snli, scitail, accuracy); `accuracy` and `f1` (mrpc, qqp, accuracy_f1); `pearson` and `spearmanr`
    (stsb, pearson_spearman).
Examples:
    >>> metric = evaluate.load("training/metric_modules/mtdnn_glue.py", "mrpc")  # doctest: +SKIP
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])  # doctest: +SKIP
    {'accuracy': 0.6666666666666666, 'f1': 0.6666666666666666}
"""

# Config name -> the metric names `_compute` returns for it.
METRIC_CONFIGS: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy",),
    "accuracy_f1": ("accuracy", "f1"),
    "cola": ("matthews_correlation",),
    "matthews": ("matthews_correlation",),
    "mnli": ("accuracy",),
    "mnli_mm": ("accuracy",),
    "mrpc": ("accuracy", "f1"),
    "pearson_spearman": ("pearson", "spearmanr"),
    "qnli": ("accuracy",),
    "qqp": ("accuracy", "f1"),
    "rte": ("accuracy",),
    "scitail": ("accuracy",),
    "snli": ("accuracy",),
    "sst2": ("accuracy",),
    "stsb": ("pearson", "spearmanr"),
    "wnli": ("accuracy",),
}

_REGRESSION_CONFIGS = frozenset(name for name, metrics in METRIC_CONFIGS.items() if "pearson" in metrics)


def _check_config(config_name: str) -> None:
    if config_name not in METRIC_CONFIGS:
        raise ValueError(
            f"Metric config {config_name!r} is not known: pass one of {sorted(METRIC_CONFIGS)} as the config name "
            "of `evaluate.load`."
        )


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MtdnnGlue(evaluate.Metric):
    """The GLUE-style metric of one task, selected by `config_name` (see `METRIC_CONFIGS`)."""

    def _info(self) -> evaluate.MetricInfo:
        _check_config(self.config_name)
        dtype = "float32" if self.config_name in _REGRESSION_CONFIGS else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value(dtype), "references": datasets.Value(dtype)}),
            codebase_urls=[],
            reference_urls=["https://gluebenchmark.com/"],
            format="numpy",
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        metrics = METRIC_CONFIGS[self.config_name]
        if metrics == ("matthews_correlation",):
            return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}
        if metrics == ("pearson", "spearmanr"):
            # Undefined (NaN) for fewer than two examples or constant values, where SciPy raises or warns.
            defined = len(predictions) > 1 and np.ptp(predictions) > 0 and np.ptp(references) > 0
            return {
                "pearson": float(pearsonr(predictions, references)[0]) if defined else math.nan,
                "spearmanr": float(spearmanr(predictions, references)[0]) if defined else math.nan,
            }
        results = {"accuracy": float(accuracy_score(references, predictions))}
        if "f1" in metrics:
            results["f1"] = float(f1_score(references, predictions, pos_label=1, average="binary"))
        return results

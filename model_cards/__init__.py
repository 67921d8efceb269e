"""
Model cards for MT-DNN checkpoints, installed as `mtdnn.model_cards`: the card's data (`card_data`) and its
rendering from `template.md` with the dev-score plot (`generate`). Installed, `MTDNNForMultiTask.save_pretrained`
writes a card through the package's entry point; importing this package does the same in a checkout.
"""

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

from modeling_mtdnn import MTDNNForMultiTask

from .card_data import MTDNNModelCardData
from .generate import (
    AFFINITY_PLOT_FILE,
    PLOT_FILE,
    TEMPLATE_PATH,
    affinity_reading,
    generate_model_card,
    plot_affinity,
    plot_scores,
    write_model_card,
)

__all__ = [
    "AFFINITY_PLOT_FILE",
    "PLOT_FILE",
    "TEMPLATE_PATH",
    "MTDNNModelCardData",
    "affinity_reading",
    "generate_model_card",
    "plot_affinity",
    "plot_scores",
    "write_model_card",
]

MTDNNForMultiTask.model_card_writer = staticmethod(write_model_card)

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
"""Why MT-DNN trails single-task fine-tuning on one task of the reproduction (STS-B, by 10.5 points): does the
multi-task stage hurt the task, or does the task get too little training of its own?

    python benchmarks/finetune_budget.py --data_dir ../shared/data/glue [--task stsb] [--seeds 3] [--first_seed 0]
        [--arms single,single_one_epoch,stage,mtdnn,mtdnn_single_epochs] [--results_dir outputs/finetune_budget]

Per seed, with `reproduce_paper.py`'s rows, recipe, flags and seeds (so `single`, `stage` and `mtdnn` are the
reproduction's own runs, made again):

- `single`: the task alone for the single-task arm's epochs (2.319 at 1,500 rows per task).
- `single_one_epoch`: the task alone for one epoch: the fine-tuning the MT-DNN arm gives it.
- `stage`: the multi-task stage (every task of the reproduction, one epoch), scored on the task.
- `mtdnn`: that checkpoint fine-tuned on the task for one epoch (the MT-DNN arm).
- `mtdnn_single_epochs`: that checkpoint fine-tuned for the single-task arm's epochs.

`mtdnn` against `single_one_epoch` is what the stage gives the task at equal fine-tuning (one epoch);
`mtdnn_single_epochs` against `single`, the same at the single-task arm's fine-tuning. Where both are level or ahead,
the stage does not hurt the task, and its deficit in the reproduction is the fine-tuning the equal budget leaves it.
Each (arm, seed) result is a JSON file in `--results_dir`, so an interrupted run resumes. It prints a table and,
last, one JSON object of the figures (`<arm>_mean`, `<arm>_sd`, `<arm>_seeds`, `stage_gain_one_epoch`,
`stage_gain_single_epochs`).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_args import benchmark_parser, device_figures, parse_benchmark_args, parse_subset  # noqa: E402
from reproduce_paper import (  # noqa: E402
    MIXED_IN,
    TRAINED,
    plan_budget,
    reproduction_flags,
    run_once,
    run_stage,
    summarize,
    task_score_of,
)

from modeling_mtdnn import POOLING_MODES  # noqa: E402

ARMS = {
    "single": "alone, single-task epochs",
    "single_one_epoch": "alone, 1 epoch",
    "stage": "multi-task stage only",
    "mtdnn": "stage, then 1 epoch",
    "mtdnn_single_epochs": "stage, then single-task epochs",
}
FROM_STAGE = ("stage", "mtdnn", "mtdnn_single_epochs")


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, one seed, a two-task stage.", "Local GLUE copy.")
    parser.add_argument("--results_dir", default="outputs/finetune_budget", help="Where results and checkpoints go.")
    parser.add_argument("--task", default="stsb", choices=TRAINED, help="The task the reproduction scores.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds first_seed..seeds-1 are run.")
    parser.add_argument("--first_seed", type=int, default=0, help="Split seeds across processes.")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"Comma-separated subset of {', '.join(ARMS)}.")
    parser.add_argument("--max_train_samples", type=int, default=1500, help="Per task, as in the reproduction.")
    parser.add_argument("--max_eval_samples", type=int, default=3000)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--pooling", default="mean", choices=POOLING_MODES, help="As in the reproduction.")
    args = parse_benchmark_args(parser, argv)
    if args.data_dir is None:
        parser.error("--data_dir (or MTDNN_DATA_DIR) must name the local GLUE copy.")
    arms = parse_subset(parser, "--arms", args.arms, ARMS)
    task = args.task
    trained, mixed = ([task], ["wnli"]) if args.quick else (TRAINED, MIXED_IN)
    samples = 32 if args.quick else args.max_train_samples
    _, _, single_epochs = plan_budget(samples, 1.0, trained, mixed)
    _, glue, fresh = reproduction_flags(args, samples)
    results_dir, seeds = Path(args.results_dir), range(args.first_seed, 1 if args.quick else args.seeds)
    scores: dict[str, list[float]] = {}
    for seed in seeds:
        seed_flags = ["--seed", str(42 + seed)]
        paths = {arm: results_dir / task / arm / f"seed{seed}.json" for arm in arms}
        for arm, epochs in (("single", single_epochs), ("single_one_epoch", 1.0)):
            if arm in arms:
                result = run_once(
                    paths[arm],
                    [*fresh, "--tasks", task, "--num_train_epochs", f"{epochs:.4f}", *glue, *seed_flags,
                     "--output_dir", str(results_dir / "runs" / f"{arm}-{task}-{seed}")],
                )  # fmt: skip
                scores.setdefault(arm, []).append(task_score_of(result, task))
        if not any(arm in arms for arm in FROM_STAGE):
            continue
        stage = results_dir / "runs" / f"stage-{seed}"
        tuned = [paths[arm] for arm in ("mtdnn", "mtdnn_single_epochs") if arm in arms]
        stage_result = run_stage(
            results_dir / "stage" / f"seed{seed}.json",
            [*fresh, "--tasks", ",".join(trained + mixed), "--num_train_epochs", "1.0",
             "--output_dir", str(stage), *glue, *seed_flags],
            needed=not all(path.is_file() for path in tuned),
        )  # fmt: skip
        if "stage" in arms:
            scores.setdefault("stage", []).append(task_score_of(stage_result, task))
        for arm, epochs in (("mtdnn", 1.0), ("mtdnn_single_epochs", single_epochs)):
            if arm in arms:
                result = run_once(
                    paths[arm],
                    ["--init_from", str(stage), "--tasks", task, "--num_train_epochs", f"{epochs:.4f}", *glue,
                     *seed_flags, "--output_dir", str(results_dir / "runs" / f"{arm}-{task}-{seed}")],
                )  # fmt: skip
                scores.setdefault(arm, []).append(task_score_of(result, task))
        shutil.rmtree(stage, ignore_errors=True)  # every run from this seed's stage is saved

    figures: dict = {"task": task, "seeds": list(seeds), "arms": arms, "single_task_epochs": round(single_epochs, 3)}
    figures |= device_figures(args)
    for arm, values in scores.items():
        mean, spread = summarize(values)
        figures[f"{arm}_mean"], figures[f"{arm}_sd"] = round(mean, 4), round(spread, 4)
        figures[f"{arm}_seeds"] = [round(value, 4) for value in values]
    for name, (tuned, alone) in {
        "stage_gain_one_epoch": ("mtdnn", "single_one_epoch"),
        "stage_gain_single_epochs": ("mtdnn_single_epochs", "single"),
    }.items():
        if {tuned, alone} <= set(scores):
            figures[name] = round(figures[f"{tuned}_mean"] - figures[f"{alone}_mean"], 4)
    width = max(len(label) for label in ARMS.values()) + 2
    print(f"{task + ' arm':<{width}}{'mean ± sd':>18}  every seed")
    for arm in scores:
        mean, spread, values = (figures[f"{arm}_{key}"] for key in ("mean", "sd", "seeds"))
        print(f"{ARMS[arm]:<{width}}{mean:>10.4f} ± {spread:.4f}  {values}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

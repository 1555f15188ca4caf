#!/usr/bin/env bash
# Every benchmark behind a figure in the README and docs/, one after the other, on a quiet
# machine (a running study is paused for the duration: mnv4-rl-study pause/resume).
#   benchmarks/run_all.sh [STUDY_RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=docs/results/cpu-2core
STUDY=${1:-}
if [ -n "$STUDY" ]; then
    .venv/bin/mnv4-rl-study pause "$STUDY"
    trap '.venv/bin/mnv4-rl-study resume "$STUDY"' EXIT
fi
$PY benchmarks/fold_cost.py --out $OUT/fold_cost.md
$PY benchmarks/encoder_speed.py --variants conv_small nano \
    --kinds timm ours ours-plain ours-nofold ours-nogemm ours-frozen ours-compiled --repeats 5 \
    --out $OUT/encoder_speed.json | tee $OUT/encoder_speed.md
$PY benchmarks/export_latency.py --out $OUT/export_latency
$PY benchmarks/groupnorm_export.py --out $OUT/groupnorm_export.md
$PY benchmarks/rllib_throughput.py --out $OUT/rllib
.venv/bin/mnv4-rl-bench --encoders impala nano nano_rl small timm-nano timm-small nano@norm=frozen \
    nano_rl@norm=frozen --env Pong --repeats 3 --ppo-steps 1024 --dqn-learning-starts 300 \
    --dqn-steps 300 --encoder-seconds 1.0 --out $OUT

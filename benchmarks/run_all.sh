#!/usr/bin/env bash
# Every benchmark behind a figure in the README and docs/, one after the other, on a quiet
# machine: stop a running study first (Ctrl-C; `mnv4-rl-study run` again resumes it, see
# docs/studies.md).
#   benchmarks/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=docs/results/cpu-2core
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
OMP_NUM_THREADS=1 $PY benchmarks/augment_overhead.py --pairs 40 --threads 1 | tee $OUT/augment_overhead.md
OMP_NUM_THREADS=1 $PY benchmarks/frozen_ppo.py --threads 1 --out $OUT/frozen_ppo
$PY benchmarks/replay_memory.py --size 10000 --out $OUT/replay_memory

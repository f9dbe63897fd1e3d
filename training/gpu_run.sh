#!/usr/bin/env bash
# The pruned U²-Net student's distillation on a lent GPU machine, as one device call.
#
# The machine has torch, onnx, onnxruntime and OpenCV but neither ../shared/data nor U²-Net's weights, and a
# call carries at most 64 MiB, so the run's inputs travel as a pack (training/pack.py) made here beforehand:
#
#   python -m modelbuild fetch u2net                                   # the published weights (176 MB, cached)
#   python -m training teacher --teacher u2net                         # U²-Net fp32 labels of the pool (CPU, cached)
#   python -m training pack --teacher u2net --arch u2net --width 0.5 --run u2net-x050   # -> gpu-pack/ (<= 56 MB)
#
# The device call (run tool): command `bash training/gpu_run.sh`, carry ["gpu-pack"], timeout_s 600. It
# measures the step time on 30 steps, sets the step count that fills MINUTES, trains (validating on the pack's
# copy of the split, checkpoints every 100 steps; run again on the same machine and it goes on where it
# stopped), and writes the best weights (float16, two files), the logs and steps.txt to $OUT. Back here, with
# S="--run u2net-x050 --model-id u2net-student-int8 --teacher u2net --arch u2net --width 0.5":
#
#   python -m training receive  $S --returned <files_at>   # -> .cache/training/runs/u2net-x050/step-N.pt + logs
#   python -m training export   $S                         # the chosen step's fused map -> student.onnx
#   python -m training quantize $S                         # INT8 by modelbuild's recipe -> engine/models/
#   python -m training evaluate $S                         # dev sets + validation, through the engine
#   python -m bench --models engine:u2net-student-int8,rembg:u2net,rembg:u2netp   # the issue's bars, same run
#
# The low-rank student (docs/training.md) the same way: WIDTH=1 EXTRA="--middle 0.5 --low-rank 11", and the same
# three settings in the pack's and S's commands (U²-Net does not travel, so it teaches by its cached labels).
# Its best start is U²-Net refitted layer by layer (`python -m training reconstruct --run R ...`, 25 minutes on
# CPU): pack with --init-weights .cache/training/runs/R/reconstructed.pt (docs/training.md).
#
# Expected time: about 1 minute to start and load, MINUTES of training (default 7), under a minute to send back:
# one call of about 9 minutes. Nothing here is timed on a GPU yet: the step count is measured, not assumed.
set -euo pipefail

PACK=${PACK:-gpu-pack}
RUN=${RUN:-u2net-x050}
WIDTH=${WIDTH:-0.5}
MINUTES=${MINUTES:-7}
SIZE=${SIZE:-320}
BATCH=${BATCH:-16}
PROBE=${PROBE:-30}
RETURNED=${OUT:-out/gpu}
PY=${PY:-python3}
export SHARED_DIR="$(realpath "$PACK")/shared" PYTHONUNBUFFERED=1
# EXTRA: more settings, e.g. --data PACK/shared/data/NAME for a pack of one's own folders
# shellcheck disable=SC2206
SETTINGS=(--teacher u2net --labels "$PACK/labels" --arch u2net --width "$WIDTH" --size "$SIZE" --batch-size "$BATCH"
  --lr 5e-4 --warmup 100 --alpha 0.5 --side-weight 0.5 --augment none --checkpoint-every 100 ${EXTRA:-})
RUNS=.cache/training/runs

test -f "$PACK/init.pt" || { echo "no $PACK/init.pt: make the pack first (python -m training pack ...)"; exit 2; }
nvidia-smi -L || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

start_run() {  # the run folder with the packed initial weights
  mkdir -p "$RUNS/$1" && cp -n "$PACK/init.pt" "$RUNS/$1/init.pt"
}

steps_file="$RUNS/$RUN/steps"
if [ ! -f "$steps_file" ]; then  # measure: PROBE steps (the first 10, cuDNN's tuning, not counted)
  start_run "$RUN-probe"
  $PY -m training train "${SETTINGS[@]}" --run "$RUN-probe" --steps "$PROBE" --validate-every 100000
  mkdir -p "$RUNS/$RUN"
  $PY - "$RUNS/$RUN-probe/log.jsonl" "$MINUTES" > "$steps_file" <<'EOF'
import json, sys
t = [json.loads(line)["t"] for line in open(sys.argv[1])]
per_step = (t[-1] - t[10]) / (len(t) - 11)
print(max(100, int(float(sys.argv[2]) * 60 * 0.85 / per_step) // 100 * 100))
print(f"{per_step:.3f} s a step", file=sys.stderr)
EOF
fi
STEPS=$(cat "$steps_file")
echo "training $RUN for $STEPS steps"
start_run "$RUN"
$PY -m training train "${SETTINGS[@]}" --run "$RUN" --steps "$STEPS" --validate-every $((STEPS / 8)) \
  --max-minutes "$MINUTES"
$PY -m training send-back "${SETTINGS[@]}" --run "$RUN" --steps "$STEPS" --validate-every $((STEPS / 8)) \
  --returned "$RETURNED"
cp "$steps_file" "$RETURNED/steps.txt"

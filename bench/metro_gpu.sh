#!/usr/bin/env bash
# MeTRo on one CUDA GPU, one command (about 8 minutes on an H100):
#   1. speed matrix: ResNet-50, 256 px, stride 32/16, batch 1/8/64, fp32/bf16   -> $OUT/speed.log, speed.json
#   2. GPU training run, online rendering, bf16, channels-last, <= TRAIN_MINUTES -> $OUT/train/results.json
#   3. torch.compile smoke run                                                  -> $OUT/compile/results.json
#   4. torchrun --nproc_per_node=1 DDP (nccl) smoke run                          -> $OUT/ddp/results.json
# Usage:  bash bench/metro_gpu.sh            (OUT=./out by default; DATA_DIR defaults to ../shared/data/h36m
#         or shared/data/h36m when present, else the built-in synthetic poses)
#         TINY=1 bash bench/metro_gpu.sh     (CPU rehearsal with tiny settings, a few minutes)
#         STEPS="train" TRAIN_MINUTES=10 bash bench/metro_gpu.sh   (only the named steps, in this order:
#         speed train compile ddp). Where one command may run at most ~10 minutes, start the 10-minute
#         training detached (setsid nohup ... &, OUT outside the per-command folder) and collect
#         $OUT/train/results.json with a later command.
# Every step runs even if an earlier one fails; $OUT/summary.txt lists each step's exit code and time.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-./out}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python}
TRAIN_MINUTES=${TRAIN_MINUTES:-4.5}
if [ -z "${DATA_DIR:-}" ]; then
  DATA_DIR=synthetic
  for d in ../shared/data/h36m shared/data/h36m; do
    if [ -f "$d/cameras.h5" ]; then DATA_DIR=$d; break; fi
  done
fi
CACHE=${CACHE_DIR:-$OUT/cache}      # the default one is removed at the end (not a result)

if [ "${TINY:-0}" = 1 ]; then
  SPEED=(--seconds 0.2)
  BASE=(device=cpu amp=false channels_last=false backbone=resnet18 crop_size=64 batch_size=4 eval_batch_size=8
        max_test_crops=16 stride=400 test_stride=400 threads=2 log_every=1 cache_dir="$CACHE" data_dir="$DATA_DIR")
  TRAIN=(iterations=8 abs_start=4 weak_steps=2)
  SMOKE=(iterations=3)
else
  SPEED=()
  BASE=(device=cuda data_dir="$DATA_DIR" cache_dir="$CACHE" stride=5 test_stride=64 max_test_crops=1024)
  TRAIN=(iterations=6000 max_train_minutes="$TRAIN_MINUTES" lr=0.0005 abs_start=1500 log_every=50
         checkpoint_every=1000)
  SMOKE=(iterations=30 max_test_crops=256)
fi

: > "$OUT/summary.txt"
status=0
STEPS=${STEPS:-speed train compile ddp}
step() {
  local name=$1; shift
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  local start=$SECONDS
  echo "== $name: $*"
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc, $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
  tail -n 4 "$OUT/$name.log"
  [ $rc -eq 0 ] || status=1
}

"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$OUT/device.txt"
step speed "$PYTHON" bench/metro_speed.py --json "$OUT/speed.json" "${SPEED[@]}"
step train "$PYTHON" main_metro.py --opt opts/metro_r50.yaml --set "${BASE[@]}" "${TRAIN[@]}" out_dir="$OUT/train"
step compile "$PYTHON" main_metro.py --opt opts/metro_r50.yaml --set "${BASE[@]}" "${SMOKE[@]}" compile=true \
  out_dir="$OUT/compile"
step ddp "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node=1 main_metro.py --opt opts/metro_r50.yaml \
  --set "${BASE[@]}" "${SMOKE[@]}" out_dir="$OUT/ddp"
if [ -z "${CACHE_DIR:-}" ]; then rm -rf "$OUT/cache"; fi
echo "== summary ($OUT/summary.txt)"; cat "$OUT/summary.txt"
exit $status

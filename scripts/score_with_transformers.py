"""Score a saved model on the AG News test CSV with plain transformers: no newsclf code.

This is the independent check behind the README's accuracy figure:

    .venv/bin/python scripts/score_with_transformers.py runs/demo/best_model

It verifies the test file is the canonical one (md5), maps the file's classes 1-4 to names
through the AG News class list, and compares them with the names the model predicts.
"""

import argparse
import csv
import gzip
import hashlib
import io
import sys
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

CANONICAL_MD5 = "d52ea96a97a2d943681189a97654912d"
CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
DEFAULT_TEST = Path(__file__).parents[1] / "src/newsclf/datasets/ag_news/test.csv.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--test-csv", type=Path, default=DEFAULT_TEST)
    args = parser.parse_args()

    raw = (
        gzip.decompress(args.test_csv.read_bytes())
        if args.test_csv.suffix == ".gz"
        else args.test_csv.read_bytes()
    )
    md5 = hashlib.md5(raw).hexdigest()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    texts = [f"{title} {description}" for _, title, description in rows]
    truth = [CLASSES[int(label) - 1] for label, _, _ in rows]

    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model_dir, dtype=torch.float32
    ).eval()
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                texts[start : start + 64],
                truncation=True,
                max_length=512,
                padding=True,
                return_tensors="pt",
            )
            ids = model(**batch).logits.argmax(dim=-1).tolist()
            predicted += [model.config.id2label[i] for i in ids]
    correct = sum(p == t for p, t in zip(predicted, truth, strict=True))
    print(
        f"test file md5 {md5} ({'canonical' if md5 == CANONICAL_MD5 else 'NOT the canonical file'})"
    )
    print(f"accuracy {correct / len(rows):.4f} ({correct}/{len(rows)}) with plain transformers")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a dataset's rows come from: the bundled AG News rows, a local file or a directory of
train/validation/test files (read by `newsclf.data.readers`), or the Hub.

Each split comes back as a `RawTable`: its column names, its source, and its rows a chunk at a
time. Checking, mapping and splitting them is `newsclf.data.prepare`'s job.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf import paths
from newsclf.data.readers import FORMATS, RawTable, open_table, stem_and_format
from newsclf.errors import DataError
from newsclf.hub import ensure_hub_reachable

if TYPE_CHECKING:
    from newsclf.config import TrainConfig

AG_NEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
# Column names a header row holds when --text-column and --label-column are not given.
DEFAULT_COLUMNS = ("text", "title", "description", "label")
BUNDLED = {"ag_news": ("train_subset.csv.gz", "test.csv.gz")}
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}


def read_source(cfg: TrainConfig) -> tuple[dict[str, RawTable], list[str] | None]:
    """Return the frames per split and the class names the source declares, if any."""
    if cfg.data in BUNDLED:
        return _read_bundled(cfg.data), list(AG_NEWS_LABELS)
    path = Path(cfg.data)
    if path.exists():
        return _read_local(path, cfg)
    looks_like_file = stem_and_format(path)[1] is not None or cfg.data.startswith((".", "/", "~"))
    if looks_like_file or cfg.data.count("/") > 1:
        raise DataError(paths.missing(path, "--data"))
    if "/" in cfg.data:
        return _read_hub(cfg.data)
    raise DataError(
        f"--data {cfg.data!r} is neither a bundled dataset ({', '.join(BUNDLED)}), an existing "
        "file or directory, nor a Hub id like 'fancyzhx/ag_news'. Check the spelling or the path."
    )


def bundled_path(name: str, filename: str) -> Path:
    return Path(str(resources.files("newsclf") / "datasets" / name / filename))


def _read_bundled(name: str) -> dict[str, RawTable]:
    train_file, test_file = BUNDLED[name]
    return {
        "train": open_table(bundled_path(name, train_file), "utf-8", None, DEFAULT_COLUMNS),
        "test": open_table(bundled_path(name, test_file), "utf-8", None, DEFAULT_COLUMNS),
    }


def _read_local(path: Path, cfg: TrainConfig) -> tuple[dict[str, RawTable], list[str] | None]:
    declared = _classes_txt(path if path.is_dir() else path.parent)
    if not path.is_dir():
        return {"train": open_table(path, cfg.encoding, cfg.header, wanted_columns(cfg))}, declared
    frames = {}
    for file in sorted(path.iterdir()):
        split = _split_of(file)
        if split and split not in frames:
            frames[split] = open_table(file, cfg.encoding, cfg.header, wanted_columns(cfg))
    if not frames:
        raise DataError(
            f"Directory {path} holds no train/validation/test files with a suffix among "
            f"{', '.join(FORMATS)} (found: {sorted(p.name for p in path.iterdir())[:10]}). Name "
            "them train.csv and test.csv (validation.csv optional), or pass one file with --data."
        )
    return frames, declared


def _split_of(file: Path) -> str | None:
    stem, suffix = stem_and_format(file)
    if suffix is None:
        return None
    for split, aliases in SPLIT_ALIASES.items():
        if stem.lower() in aliases:
            return split
    return None


def _classes_txt(folder: Path) -> list[str] | None:
    """The original AG News CSV release declares its class names in classes.txt."""
    classes = folder / "classes.txt"
    if not classes.is_file():
        return None
    return [
        line.strip() for line in classes.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def wanted_columns(cfg: TrainConfig) -> tuple[str, ...]:
    """Column names a header row would hold: the ones asked for, or the defaults."""
    texts = [c.strip() for c in cfg.text_column.split(",")] if cfg.text_column else []
    labels = [c for c in cfg.label_columns or [cfg.label_column] if not c.endswith("*")]
    return (*(texts or DEFAULT_COLUMNS[:3]), *labels)


def _read_hub(dataset_id: str) -> tuple[dict[str, RawTable], list[str] | None]:
    ensure_hub_reachable(
        f"dataset {dataset_id!r}", "--data ag_news (bundled) or --data path/to/train.csv"
    )
    import datasets

    try:
        dsd = datasets.load_dataset(dataset_id)
    except Exception as err:  # the Hub raises many types; the user needs one message
        raise DataError(f"Could not load dataset {dataset_id!r} from the Hub: {err}") from None
    declared = None
    for ds in dsd.values():
        for feature in ds.features.values():
            if isinstance(feature, datasets.ClassLabel):
                declared = list(feature.names)
    frames = {}
    for split, ds in dsd.items():
        for canonical, aliases in SPLIT_ALIASES.items():
            if split in aliases:
                frames[canonical] = RawTable.whole(ds.to_pandas(), f"{dataset_id} ({split})")
    return frames, declared

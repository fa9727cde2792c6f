"""Labels, in one place: the label column's checks, class names and ids, and --label-map.

Labels may be class names or class ids (counted from 0 or from 1); names match ignoring case,
spaces and punctuation ('sci_tech' is 'Sci/Tech'). Every problem is one DataError naming the
split, the file and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.data.readers import integer_cells
from newsclf.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from newsclf.data.readers import RawTable


def parse_label_map(spec: str | dict[str, str] | None) -> dict[str, str] | None:
    """`world=World,sci_tech=Sci/Tech`, or a JSON/YAML file holding such a mapping."""
    if spec is None or isinstance(spec, dict):
        return spec
    import yaml

    if Path(spec).is_file():
        try:
            mapping = yaml.safe_load(Path(spec).read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            mapping = None
        if not isinstance(mapping, dict):
            raise DataError(
                f"--label-map file {spec} does not hold a mapping of data labels to class names, "
                'e.g. {"world": "World", "sci_tech": "Sci/Tech"}. Fix the file.'
            )
        return {str(k): str(v) for k, v in mapping.items()}
    pairs = [p.partition("=") for p in spec.split(",") if p.strip()]
    if not pairs or any(not sep or not k.strip() or not v.strip() for k, sep, v in pairs):
        raise DataError(
            f"--label-map {spec!r}: expected DATA_LABEL=CLASS pairs joined by commas, e.g. "
            "'world=World,sci_tech=Sci/Tech', or a JSON/YAML file of that mapping."
        )
    return {k.strip(): v.strip() for k, _, v in pairs}


def check_labels(
    df: pd.DataFrame,
    column: str,
    split: str,
    keep: pd.Series,
    label_map: dict[str, str] | None,
    names: list[str] | None,
) -> pd.Series:
    """The label cells of the rows kept, checked: present, not empty, one kind of value."""
    check_label_column(df, column, split)
    labels = df[column][keep]
    empty = labels.isna() | labels.astype(str).str.strip().eq("")
    if empty.any():
        first = int(empty.to_numpy().nonzero()[0][0])
        raise DataError(
            f"The {split} split ({source_of(df)}) has {int(empty.sum())} row(s) with an empty "
            f"label, the first at data row {int(labels.index[first]) + 1}: every row needs a "
            "class. Fill in those labels or delete the rows."
        )
    if labels.dtype.kind == "f" and (labels % 1 == 0).all():
        labels = labels.astype(int)  # JSON integers read as floats
    if label_map:
        labels = _mapped(labels, label_map, names)
    _check_one_kind(labels, split, df)
    return labels


def check_label_column(table: pd.DataFrame | RawTable, column: str, split: str) -> None:
    if column not in table.columns:
        raise DataError(
            f"Label column {column!r} not in the {split} split ({source_of(table)}): found columns "
            f"{[str(c) for c in table.columns]}. Fix --label-column."
        )


def _check_one_kind(labels: pd.Series, split: str, df: pd.DataFrame) -> None:
    """Refuse a label column that mixes class ids (integers) and class names."""
    as_text = labels.astype(str).str.strip()
    numeric = integer_cells(as_text)
    if numeric.any() and not numeric.all():
        ids = sorted(set(as_text[numeric]))[:5]
        words = sorted(set(as_text[~numeric]))[:5]
        raise DataError(
            f"The labels of the {split} split ({source_of(df)}) mix numbers {ids} and names "
            f"{words}: expected one kind. Write every label as a class name or every one as an id."
        )


def _mapped(labels: pd.Series, label_map: dict[str, str], names: list[str] | None) -> pd.Series:
    """Apply --label-map; each target must be a class name."""
    if names:
        lookup = loose_lookup(names)
        wrong = sorted(v for v in set(label_map.values()) if loose(v) not in lookup)
        if wrong:
            raise DataError(
                f"--label-map maps to {wrong}, which the model does not know: its classes are "
                f"{names}. Fix the mapping's right-hand sides."
            )
    return labels.map(lambda v: label_map.get(str(v).strip(), v))


def loose(name: str) -> str:
    """Label names match ignoring case, spaces and punctuation: 'sci_tech' is 'Sci/Tech'."""
    return re.sub(r"[^0-9a-z]", "", str(name).casefold())


def loose_lookup(names: list[str]) -> dict[str, int]:
    """Loose form -> class id, for the forms only one class has."""
    forms = [loose(n) for n in names]
    return {f: i for i, f in enumerate(forms) if f and forms.count(f) == 1}


def label_mapping(
    labels: dict[str, pd.Series], declared: list[str] | None
) -> tuple[list[str], dict[str, dict[Any, int]]]:
    """Class names in id order, and per split a map from raw label values to ids.

    Names come from --label-names (or the model), else from the dataset's declaration, else are
    derived deterministically from the training labels: sorted strings, or sorted integers.
    """
    if not declared:
        first = labels.get("train", next(iter(labels.values())))
        values = sorted(set(first.tolist()), key=lambda v: (str(type(v)), v))
        return [str(v) for v in values], {s: {v: i for i, v in enumerate(values)} for s in labels}
    names = list(declared)
    by_name = {name: i for i, name in enumerate(names)}
    maps = {}
    for split, series in labels.items():
        # Declared names number the classes, and each file may count them from 0 or from 1
        # (the bundled AG News train rows count from 0, the original test CSV from 1).
        ints = {v for v in series.tolist() if isinstance(v, int)}
        base = 1 if ints and 0 not in ints and max(ints) == len(names) else 0
        maps[split] = {**by_name, **{i + base: i for i in range(len(names))}}
    return names, maps


def label_ids(labels: pd.Series, to_id: dict[Any, int], names: list[str], split: str) -> list:
    """Label values -> class ids: exactly, as text, or loosely (case and punctuation aside)."""
    fuzzy = loose_lookup(names)
    ids = labels.map(lambda v: to_id.get(v, to_id.get(str(v), fuzzy.get(loose(str(v)), -1))))
    unknown = sorted({str(v) for v in labels[ids < 0]})
    if unknown:
        numbers = [k for k in to_id if isinstance(k, int)]
        declared = numbers and any(isinstance(k, str) for k in to_id)
        ids_hint = f" (or ids {min(numbers)}-{max(numbers)})" if declared else ""
        raise DataError(
            f"Labels {unknown[:10]} in the {split} split are not among the classes {names}"
            f"{ids_hint}; names match ignoring case and punctuation. Fix the data, or map them "
            "with --label-map 'yours=Class,...' (evaluate) or --label-names (train)."
        )
    return ids.astype(int).tolist()


def ids_to_names(labels: pd.Series, names: list[str]) -> pd.Series:
    """Class ids (counted from 0 or from 1) -> the names they stand for."""
    ints = {v for v in labels.tolist() if isinstance(v, int)}
    if not ints:
        return labels
    base = 1 if 0 not in ints and max(ints) == len(names) else 0
    return labels.map(lambda v: names[v - base] if 0 <= v - base < len(names) else v)


def source_of(table: pd.DataFrame | RawTable) -> str:
    return table.attrs.get("source", "the dataset")

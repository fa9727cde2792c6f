"""Data: reading text tables (`readers`), where rows come from (`sources`), labels (`labels`),
splits (`splits`), the prepared splits (`prepare`) and tokenizing (`tokenize`).

    from newsclf.data import load_data
    data = load_data(TrainConfig(data="train.csv"))   # data.splits["train"|"validation"|"test"]
"""

from newsclf.data.labels import parse_label_map
from newsclf.data.prepare import LoadedData, load_data, load_eval_split
from newsclf.data.readers import FORMATS, RawTable, file_format, open_table, text_chunks
from newsclf.data.sources import AG_NEWS_LABELS
from newsclf.data.splits import stratified_sample
from newsclf.data.tokenize import PAD_MULTIPLE, round_up, tokenize

__all__ = [
    "AG_NEWS_LABELS",
    "FORMATS",
    "PAD_MULTIPLE",
    "LoadedData",
    "RawTable",
    "file_format",
    "load_data",
    "load_eval_split",
    "open_table",
    "parse_label_map",
    "round_up",
    "stratified_sample",
    "text_chunks",
    "tokenize",
]

"""The data layer: typed events, id vocabularies, importers, splits and dataset statistics."""

from attune.data.dataset import AttributeTable, Dataset, Interactions, user_sequences
from attune.data.importers import ColumnMapping, DataFormatError, OnError, load, load_with_report
from attune.data.vocab import Vocabulary

__all__ = [
    "AttributeTable",
    "ColumnMapping",
    "DataFormatError",
    "Dataset",
    "Interactions",
    "OnError",
    "Vocabulary",
    "load",
    "load_with_report",
    "user_sequences",
]

"""Logged interaction data: schema, loaders, validation, sessions, splits and storage.

The lowest layer of recgym: it imports nothing from `simulators`, `recgym` or `agents`.
"""

from offline_data.build import build_log
from offline_data.convert import convert_csv, convert_kuairand, convert_log
from offline_data.formats import FORMATS, detect_format, load_log
from offline_data.kuairand import load_kuairand
from offline_data.log import InteractionLog
from offline_data.movielens import load_movielens
from offline_data.partitioned import PartitionedLog
from offline_data.schema import DEFAULT_SESSION_GAP_S, Signal
from offline_data.shared.atomic import atomic_directory, atomic_write_bytes
from offline_data.shared.errors import InputError, LogSchemaError
from offline_data.summary import summarize
from offline_data.tabular import load_csv, load_parquet

__all__ = [
    "DEFAULT_SESSION_GAP_S",
    "FORMATS",
    "InputError",
    "InteractionLog",
    "LogSchemaError",
    "PartitionedLog",
    "Signal",
    "atomic_directory",
    "atomic_write_bytes",
    "build_log",
    "convert_csv",
    "convert_kuairand",
    "convert_log",
    "detect_format",
    "load_csv",
    "load_kuairand",
    "load_log",
    "load_movielens",
    "load_parquet",
    "summarize",
]

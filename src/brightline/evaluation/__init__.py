"""Accuracy evaluation: edited copies of known photos, several matching methods, recall and false-match rates."""

from brightline.evaluation.evaluate import DEFAULT_METHODS, EvalConfig, run_evaluation
from brightline.evaluation.methods import (
    EvalMethod,
    HashRecord,
    KnownRecord,
    MethodOptions,
    MethodUnavailableError,
    QueryRecord,
    create_method,
    hamming_min_scores,
    register_method,
    registered_methods,
)
from brightline.evaluation.report import write_outputs
from brightline.evaluation.robust import BrightlineMethod  # registers "brightline" and "brightline-dihedral"
from brightline.evaluation.transforms import CATALOGUE, Edit, parse_spec

__all__ = [
    "CATALOGUE",
    "DEFAULT_METHODS",
    "BrightlineMethod",
    "Edit",
    "EvalConfig",
    "EvalMethod",
    "HashRecord",
    "KnownRecord",
    "MethodOptions",
    "MethodUnavailableError",
    "QueryRecord",
    "create_method",
    "hamming_min_scores",
    "parse_spec",
    "register_method",
    "registered_methods",
    "run_evaluation",
    "write_outputs",
]

"""Artifact summaries stay small whatever the value's size (what an agent sees of an artifact)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from flowspin.agents.summary import REPR_LIMIT, summarize


def test_dataframe_is_shape_dtypes_and_head() -> None:
    frame = pd.DataFrame({"x": np.arange(100_000), "label": ["a", "b"] * 50_000})
    summary = summarize(frame)
    assert summary["type"].startswith("pandas.") and summary["type"].endswith("DataFrame")
    assert summary["shape"] == [100_000, 2]
    assert list(summary["dtypes"]) == ["x", "label"] and summary["dtypes"]["x"] == "int64"
    assert summary["head"].count("\n") == 5  # header + 5 rows
    assert len(json.dumps(summary)) < 1000


def test_array_is_shape_and_dtype_only() -> None:
    summary = summarize(np.zeros((1000, 30), dtype=np.float32))
    assert summary == {"type": "numpy.ndarray", "shape": [1000, 30], "dtype": "float32"}


def test_series_and_small_array() -> None:
    series = summarize(pd.Series([1.5, 2.5], name="score"))
    assert series["shape"] == [2] and series["dtype"] == "float64" and series["name"] == "score"
    assert summarize(np.array([1, 2]))["repr"] == "array([1, 2])"


def test_other_values_are_type_and_cut_repr() -> None:
    summary = summarize(list(range(100_000)))
    assert summary["type"] == "list" and summary["len"] == 100_000
    assert len(summary["repr"]) <= REPR_LIMIT + 40
    text = summarize("x" * 10_000)["repr"]
    assert text.endswith("more chars]") and len(text) < REPR_LIMIT + 40


def test_a_broken_repr_does_not_fail() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    summary = summarize(Weird())
    assert summary["type"].endswith("Weird")
    assert "repr failed: RuntimeError: no repr" in summary["repr"]

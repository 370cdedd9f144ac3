r"""Data of the Bayesian linear regression: the :class:`RegressionData` record, seeded synthetic data, and
files (CSV streamed by pandas in chunks into arrays allocated once; posteriordb JSON).

A CSV of n rows and d + 1 columns costs 8 n (d + 1) bytes once it is read, plus one pandas chunk
(:data:`CSV_CHUNK_ROWS` rows): the text is never held whole and the numbers are never copied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RegressionData", "synthetic_data", "load_data", "read_csv_columns", "CSV_CHUNK_ROWS"]




@dataclass(frozen=True)
class RegressionData:
    """Design matrix ``X`` (n × d, no intercept column added) and response ``y`` (n)."""

    X: np.ndarray
    y: np.ndarray
    predictors: tuple[str, ...]
    target: str = "y"
    source: str = "synthetic"

    def __post_init__(self):
        X = np.asarray(self.X, dtype=float)
        y = np.asarray(self.y, dtype=float)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (rows × predictors), got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have one value per row of X ({X.shape[0]}), got shape {y.shape}")
        if X.shape[0] < 2:
            raise ValueError(f"data must have at least 2 rows, got {X.shape[0]}")
        if X.shape[1] < 1:
            raise ValueError("data must have at least 1 predictor column")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ValueError("data must be finite numbers (found NaN or inf)")
        if len(self.predictors) != X.shape[1]:
            raise ValueError(f"predictors must name the {X.shape[1]} columns, got {len(self.predictors)} names")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]


def synthetic_data(n: int = 40, d: int = 3, rho: float = 0.95, noise_sd: float = 1.0,
                   seed: int = 20261129) -> RegressionData:
    """Seeded data set with strongly correlated predictors (corr ``rho``), so the posterior
    of β is strongly correlated and mean-field VI visibly shrinks its variances."""
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    if not -1 / max(d - 1, 1) < rho < 1:
        raise ValueError(f"rho must lie in (-1/(d-1), 1), got {rho}")
    rng = np.random.default_rng(seed)
    cov = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    X = rng.multivariate_normal(np.zeros(d), cov, size=n)
    beta = np.linspace(1.0, -0.5, d)
    y = X @ beta + noise_sd * rng.normal(size=n)
    return RegressionData(X, y, tuple(f"x{j + 1}" for j in range(d)), "y", f"synthetic (n={n}, d={d}, rho={rho}, seed={seed})")


#: rows per pandas chunk when reading a CSV (bounds the parser's working memory)
CSV_CHUNK_ROWS = 500_000


def load_data(path: str | Path, target: str | None = None) -> RegressionData:
    """Read a CSV (header row; ``target`` names the response column, the rest are predictors)
    or a posteriordb-style JSON with ``X`` (n × d) and ``y``.

    A CSV is streamed by pandas' C reader in chunks of :data:`CSV_CHUNK_ROWS` rows into arrays
    allocated once (sized by a count of the file's lines), so the data are held once, never as text
    or as a second copy.  Bad content raises a one-line ``ValueError``: empty file, missing target
    column, a non-numeric or non-finite cell, a row with too many fields, a file that ends mid-row.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file not found: {path}")
    if path.suffix.lower() != ".json":
        return RegressionData(*read_csv_columns(path, target), source=path.name)
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"cannot read data file {path}: {err.strerror}") from None
    try:
        obj = json.loads(text)
        X, y = np.asarray(obj["X"], dtype=float), np.asarray(obj["y"], dtype=float)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} must be JSON with numeric 'X' (rows × predictors) and 'y': {err}") from None
    X = X.reshape(len(X), -1) if X.ndim == 1 else X
    return RegressionData(X, y, tuple(f"x{j + 1}" for j in range(X.shape[1])), "y", path.name)


def _csv_header(path: Path, target: str | None) -> list[str]:
    """Column names of the CSV's header row (stripped); ValueError if empty or without ``target``."""
    import pandas as pd

    try:
        header = [str(h).strip() for h in pd.read_csv(path, nrows=0, engine="c").columns]
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path.name} is empty: it must have a header row and at least 2 data rows") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(f"cannot read data file {path.name}: {_one_line(err)}") from None
    if target is None:
        raise ValueError("target must name the response column of the CSV (--target COLUMN)")
    if target not in header:
        raise ValueError(f"target column {target!r} not in {path.name}; columns are {header}")
    if len(set(header)) != len(header):
        raise ValueError(f"{path.name}: column names must be unique, got {header}")
    if len(header) < 2:
        raise ValueError(f"{path.name} must have at least one predictor column beside {target!r}")
    return header


def _line_count(path: Path, block: int = 2**24) -> tuple[int, bool]:
    """Number of lines (a last line without newline counts) and whether the file ends with a newline."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(block):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n"), last == b"\n"


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def read_csv_columns(path: str | Path, target: str | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """``(X, y, predictors, target)`` of a CSV, streamed in chunks into arrays allocated once (see :func:`load_data`)."""
    import pandas as pd

    path = Path(path)
    header = _csv_header(path, target)
    j = header.index(target)
    predictors = [i for i in range(len(header)) if i != j]
    capacity, ends_with_newline = _line_count(path)
    X, y = np.empty((max(capacity - 1, 0), len(predictors))), np.empty(max(capacity - 1, 0))
    k = 0
    try:
        reader = pd.read_csv(path, names=header, header=0, dtype=np.float64, engine="c", chunksize=CSV_CHUNK_ROWS)
        for chunk in reader:
            values = chunk.to_numpy()
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                first = int(np.argmax(bad))
                row = k + first + 1
                final_row = first == len(values) - 1 and len(values) < CSV_CHUNK_ROWS  # the file's last row
                if final_row and not ends_with_newline:
                    raise ValueError(f"{path.name} ends mid-row: its last row ({row}) is incomplete (truncated file?)")
                raise ValueError(f"{path.name}: data must be finite numbers (found NaN, inf or an empty cell in "
                                 f"data row {row})")
            X[k:k + len(values)], y[k:k + len(values)] = values[:, predictors], values[:, j]
            k += len(values)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path.name}: every row must have {len(header)} columns: {_one_line(err)}") from None
    except ValueError as err:
        if str(err).startswith(path.name):
            raise
        raise ValueError(f"{path.name} must contain only numbers below the header: {_one_line(err)}") from None
    if k < 2:
        raise ValueError(f"{path.name} must have a header row and at least 2 data rows, got {k}")
    return X[:k], y[:k], tuple(header[i] for i in predictors), target

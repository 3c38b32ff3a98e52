"""`RowRNG`: one independent random stream per row of a batch.

Row b's numbers come from a counter-based generator keyed by `keys[b]` (the splitmix64
mix of key and counter), so a batch of N users draws exactly what N single-user runs with
the same keys draw. This is what makes a vector environment step-for-step equal to N
single environments with the same seeds.
"""

from __future__ import annotations

import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_PI = 2.0 * np.pi
_STEPS: dict[int, np.ndarray] = {}
"""Cached counter offsets (times the golden ratio) per draw width."""
_MASK = (1 << 64) - 1
_GOLDEN_INT, _MIX1_INT, _MIX2_INT = int(_GOLDEN), int(_MIX1), int(_MIX2)
_SMALL = 8
"""Draws of one row and at most this many numbers take the scalar path (Python ints: the
same integers as the array path, faster than a dozen numpy calls on tiny arrays)."""


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (numpy arrays wrap on overflow
    without warnings)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


_Size = int | np.integer | tuple[int, ...]


def _shape(size: _Size) -> tuple[int, ...]:
    if type(size) is tuple:
        return size
    return (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)


def key_from(generator: np.random.Generator) -> np.uint64:
    """A stream key drawn from a numpy generator (e.g. an environment's `np_random`)."""
    return np.uint64(generator.integers(0, 2**63, dtype=np.int64))


def combine_keys(*parts: np.ndarray | int) -> np.ndarray:
    """Stream keys (uint64) mixed from integer arrays broadcast together (e.g. a seed, user
    ids and step counts): equal parts give equal keys, different ones unrelated keys."""
    arrays = [np.asarray(p).astype(np.uint64) for p in parts]
    key = np.zeros(np.broadcast_shapes(*(a.shape for a in arrays)), dtype=np.uint64)
    with np.errstate(over="ignore"):  # 0-d arrays warn where arrays wrap silently
        for part in arrays:
            key = _mix(key + (part + np.uint64(1)) * _GOLDEN)
    return key


class RowRNG:
    """Independent uniform / normal streams for the rows of a batch.

    Every draw has the batch as its first axis: `random((B, k))` gives row b the next k
    numbers of stream b. `rows(index)` draws for some rows only, advancing just their
    streams.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.asarray(keys, dtype=np.uint64).copy()
        self.counters = np.zeros(len(self.keys), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.keys)

    def reseed(self, index: np.ndarray, keys: np.ndarray) -> None:
        """Restart the streams of rows `index` from new keys."""
        self.keys[index] = np.asarray(keys, dtype=np.uint64)
        self.counters[index] = 0

    def _bits(self, index: np.ndarray | None, size: tuple[int, ...]) -> np.ndarray:
        rows = len(self.keys) if index is None else len(index)
        if not size or size[0] != rows:
            raise ValueError(f"RowRNG draws need the batch ({rows}) as first axis, got {size}")
        per_row = math.prod(size[1:])
        steps = _STEPS.get(per_row)
        if steps is None:
            steps = _STEPS[per_row] = (np.arange(1, per_row + 1, dtype=np.uint64) * _GOLDEN)[None]
        if index is None:
            x = (self.keys + self.counters * _GOLDEN)[:, None] + steps
            self.counters += np.uint64(per_row)
        else:
            x = (self.keys[index] + self.counters[index] * _GOLDEN)[:, None] + steps
            self.counters[index] += np.uint64(per_row)
        return _mix(x).reshape(size)

    def _small_uniform(self, row: int, count: int) -> list[float]:
        """`count` uniforms of row `row` by the scalar path: `_bits` and `_mix` on Python
        ints (the same numbers)."""
        counter = self.counters.item(row)
        x = self.keys.item(row) + counter * _GOLDEN_INT
        self.counters[row] = counter + count
        out = []
        for _ in range(count):
            x += _GOLDEN_INT
            z = x & _MASK
            z = ((z ^ (z >> 30)) * _MIX1_INT) & _MASK
            z = ((z ^ (z >> 27)) * _MIX2_INT) & _MASK
            out.append(((z ^ (z >> 31)) >> 11) * 2.0**-53)
        return out

    def _one_row(self, index: np.ndarray | None, shape: tuple[int, ...]) -> int | None:
        """The row of a one-row draw (the scalar path), else None."""
        if shape[0] != 1:
            return None
        if index is None:
            return 0 if len(self.keys) == 1 else None
        return int(index[0]) if len(index) == 1 else None

    def _uniform(self, index: np.ndarray | None, size: _Size) -> np.ndarray:
        shape = _shape(size)
        count = math.prod(shape[1:])
        row = self._one_row(index, shape) if count <= _SMALL else None
        if row is not None:
            return np.array(self._small_uniform(row, count)).reshape(shape)
        return (self._bits(index, shape) >> np.uint64(11)) * 2.0**-53

    def _normal(self, index: np.ndarray | None, size: _Size) -> np.ndarray:
        shape = _shape(size)
        count = math.prod(shape[1:])
        row = self._one_row(index, shape) if 2 * count <= _SMALL else None
        if row is not None:
            # the array path's operations on floats: numpy's log1p and cos (the same
            # results for scalars and arrays); -, * and sqrt round the same in Python
            pairs = self._small_uniform(row, 2 * count)
            z = [math.sqrt(-2.0 * float(np.log1p(-a))) * float(np.cos(_TWO_PI * b))
                 for a, b in zip(pairs[0::2], pairs[1::2], strict=True)]
            return np.array(z).reshape(shape)
        u = self._uniform(index, (*shape, 2))
        return np.sqrt(-2.0 * np.log1p(-u[..., 0])) * np.cos(_TWO_PI * u[..., 1])

    def random(self, size: _Size) -> np.ndarray:
        """Uniform numbers in [0, 1) of shape `size` (first axis: the rows)."""
        return self._uniform(None, size)

    def standard_normal(self, size: _Size) -> np.ndarray:
        """Standard normal numbers (Box-Muller on two uniform draws per number)."""
        return self._normal(None, size)

    def rows(self, index: np.ndarray) -> _RowView:
        """A view that draws for rows `index` only."""
        return _RowView(self, np.asarray(index, dtype=np.int64))


class _RowView:
    """Draws for a subset of a `RowRNG`'s rows, advancing only their streams."""

    def __init__(self, parent: RowRNG, index: np.ndarray) -> None:
        self.parent, self.index = parent, index

    def __len__(self) -> int:
        return len(self.index)

    def random(self, size: _Size) -> np.ndarray:
        """Uniform numbers for the view's rows."""
        return self.parent._uniform(self.index, size)

    def standard_normal(self, size: _Size) -> np.ndarray:
        """Standard normal numbers for the view's rows."""
        return self.parent._normal(self.index, size)

    def rows(self, index: np.ndarray) -> _RowView:
        """A narrower view."""
        return _RowView(self.parent, self.index[np.asarray(index, dtype=np.int64)])

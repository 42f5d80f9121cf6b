"""One validation point: every stage's parameters as declarative constraints.

In the manner of scikit-learn's ``_parameter_constraints`` (whose
``sklearn.utils._param_validation`` is private API, so raregal keeps this small
version of its own): each stage states, per parameter, the values it accepts,
and :func:`validate` checks them all before any work is done. A value fails
when no constraint of its list accepts it; the error names the parameter, what
it must be and what it was, and the command line turns the parameter's name
into its flag (:func:`raregal.cli.main`)::

    FINDER = {"min_cluster_size": [Interval(Integral, 2, None)],
              "min_samples": [Interval(Integral, 1, None), Options("scaled")]}
    validate(finder.get_params(), FINDER, "RareClassFinder")

Numbers are checked as numbers: NaN and infinities fail every interval, bools
are not integers, and an integral float (``3.0``) is not an integer either.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real

from raregal.core.errors import InputError

__all__ = [
    "Interval",
    "Options",
    "Satisfies",
    "Each",
    "ParameterError",
    "validate",
    "Integral",
    "Real",
    "SEED",
    "FLAG",
    "CROP_FRACTION",
    "INPUT_SIZE",
    "JACCARD",
    "MAX_ROWS",
    "MAX_DIM",
    "BATCH_SIZE",
    "WORKERS",
    "seeds_fit",
]


class ParameterError(InputError):
    """A parameter outside its constraints.

    Attributes
    ----------
    parameter : str
        The parameter's name in the Python API (``min_cluster_size``).
    reason : str
        What it must be and what it was (``must be an integer >= 2, not 0``).
    owner : str
        The function or estimator it belongs to.
    """

    def __init__(self, parameter: str, reason: str, owner: str = ""):
        self.parameter, self.reason, self.owner = parameter, reason, owner
        where = f" ({owner})" if owner else ""
        super().__init__(f"{parameter}{where}: {reason}")


def _is_number(value, kind) -> bool:
    if isinstance(value, bool):
        return False
    if kind is Integral:
        return isinstance(value, Integral)
    return isinstance(value, Real)


@dataclass(frozen=True)
class Interval:
    """A finite number of ``type`` (Integral or Real) between ``low`` and ``high``.

    ``closed`` is "both", "left", "right" or "neither"; None for a bound means
    unbounded on that side (still finite).
    """

    type: type
    low: float | None
    high: float | None
    closed: str = "both"

    def accepts(self, value) -> bool:
        if not _is_number(value, self.type) or not math.isfinite(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        noun = "an integer" if self.type is Integral else "a number"
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        low, high = _show(self.low), _show(self.high)
        if self.low is not None and self.high is not None:
            return f"{noun} in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"
        if self.low is not None:
            return f"{noun} {'>=' if low_in else '>'} {low}"
        if self.high is not None:
            return f"{noun} {'<=' if high_in else '<'} {high}"
        return noun if self.type is Integral else "a finite number"


class Options:
    """One of a fixed set of values (strings such as "auto", or None).

    None, "not given", goes unmentioned in messages: on the command line it is
    leaving the flag out.
    """

    def __init__(self, *values):
        self.values = values

    def accepts(self, value) -> bool:
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def describe(self) -> str:
        words = [f"'{v}'" if isinstance(v, str) else str(v) for v in self.values if v is not None]
        return words[0] if len(words) == 1 else "" if not words else f"one of {', '.join(words)}"


@dataclass(frozen=True)
class Satisfies:
    """Any value for which ``test`` is true (a timm name, a device string)."""

    test: Callable[[object], bool]
    description: str

    def accepts(self, value) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError, AttributeError):  # a value of the wrong kind
            return False

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class Each:
    """A non-empty list or tuple whose every item passes one of ``constraints``."""

    constraints: tuple

    def __init__(self, *constraints):
        object.__setattr__(self, "constraints", constraints)

    def accepts(self, value) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) > 0
            and all(_first_failure(v, self.constraints) is None for v in value)
        )

    def describe(self) -> str:
        return f"a list, each {_describe(self.constraints)}"


def _describe(constraints) -> str:
    return " or ".join(d for d in (c.describe() for c in constraints) if d)


def _first_failure(value, constraints):
    """None when some constraint accepts ``value``, else the description of them all."""
    if any(c.accepts(value) for c in constraints):
        return None
    return _describe(constraints)


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_show(v) for v in value) or "nothing"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if not isinstance(value, str) else f"'{value}'"


def validate(params: dict, constraints: dict, owner: str = "") -> None:
    """Check every parameter named in ``constraints`` before any work.

    Parameters
    ----------
    params : dict
        Parameter name -> value (``get_params()``, or a function's arguments).
    constraints : dict
        Parameter name -> list of constraints, any of which may accept the value.
    owner : str
        Named in the Python message (``RareClassFinder``, ``embed``).

    Raises
    ------
    ParameterError
        For the first parameter, in ``constraints`` order, that no constraint accepts.
    """
    for name, allowed in constraints.items():
        value = params[name]
        wanted = _first_failure(value, allowed)
        if wanted is not None:
            raise ParameterError(name, f"must be {wanted}, not {_show(value)}", owner)


# --- constraints several stages share ------------------------------------------------

#: numpy's and torch's seeds: 0 to 2**32 - 1.
SEED = Interval(Integral, 0, 2**32 - 1)
FLAG = Options(True, False)
#: Central fraction of each side of a cutout that is kept.
CROP_FRACTION = Interval(Real, 0, 1, closed="right")
#: Pixels a side of a model's input; timm's networks downsample by up to 32. At most
#: 2,048: GZ DESI's cutouts are 424 pixels, and one 2,048-pixel image is 50 MB as floats.
INPUT_SIZE = Interval(Integral, 32, 2048)

# Upper bounds of the counts that size memory or time, so that an absurd value is
# refused in one line before any work instead of running out of memory hours later.
# Each is far above what a real use needs; the reason is beside it.

#: Rows of a synthetic table: GZ DESI, the largest catalogue, has 8.7 million galaxies.
MAX_ROWS = 10_000_000
#: Features of a synthetic table: foundation models' representations have 128 to 1,536.
MAX_DIM = 4096
#: Images a batch: 8,192 RGB images of 224 pixels are 4.9 GB as floats, past a GPU's memory.
BATCH_SIZE = Interval(Integral, 1, 8192)
#: Worker processes: more than any machine's cores.
WORKERS = 1024


def seeds_fit(seed, count: int, owner: str) -> None:
    """Refuse ``seed`` when ``seed + count`` (the seeds of ``count`` reruns after it)
    leaves numpy's range, before any work (else the reruns failed after the search).

    Raises
    ------
    ParameterError
        Naming ``seed``.
    """
    assert SEED.high is not None  # bounded (2**32 - 1); tells mypy so
    if seed is not None and count and seed + count > SEED.high:
        raise ParameterError(
            "seed",
            f"must be at most {SEED.high - count} for {count} reruns "
            f"(seeds seed+1 to seed+{count} <= {SEED.high}), not "
            f"{seed}",
            owner,
        )


#: A Jaccard index from which two classes count as the same (raregal compare, report).
JACCARD = Interval(Real, 0, 1, closed="right")

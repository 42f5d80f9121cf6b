"""Select the galaxies to search: morphology cuts on predicted vote fractions.

The paper removes featureless, edge-on and artifact galaxies before the search
(:mod:`raregal.defaults`). Cuts are applied in order and each reports how many
galaxies it removed from those still left, so the counts add up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import defaults
from .errors import InputError
from .params import Interval, Options, Real, validate

NAN_POLICIES = ("keep", "drop")


@dataclass(frozen=True)
class Cut:
    """Drop a galaxy when ``column >= threshold``."""

    name: str
    column: str
    threshold: float

    def __post_init__(self):
        # named as search's featureless_cut, edge_on_cut and artifact_cut (and flags);
        # None is a cut switched off (paper_cuts leaves it out)
        name = f"{self.name.replace('-', '_')}_cut"
        validate({name: self.threshold}, {name: [Interval(Real, 0, 1), Options(None)]}, "Cut")

@dataclass
class Selection:
    """The outcome of :func:`apply_cuts`.

    Attributes
    ----------
    mask : ndarray of bool, shape (n,)
        True for the galaxies kept.
    steps : list of dict
        One per cut, in order: ``name``, ``rule``, ``column``, ``removed`` (galaxies
        removed by this cut among those left), ``nan`` (of those left, how many had
        NaN in the column) and ``left``.
    notes : list of str
    """

    mask: np.ndarray
    steps: list
    notes: list


def paper_cuts(smooth: float | None = defaults.SMOOTH_THRESHOLD,
               edge_on: float | None = defaults.EDGE_ON_THRESHOLD,
               artifact: float | None = defaults.ARTIFACT_THRESHOLD) -> list[Cut]:
    """The paper's three morphology cuts; a threshold of None leaves that cut out.

    The artifact experiment of the paper is ``paper_cuts(artifact=None)``.
    """
    cuts = [Cut("featureless", defaults.SMOOTH_COLUMN, smooth),
            Cut("edge-on", defaults.EDGE_ON_COLUMN, edge_on),
            Cut("artifact", defaults.ARTIFACT_COLUMN, artifact)]
    return [cut for cut in cuts if cut.threshold is not None]


def resolve_column(columns, name: str) -> str | None:
    """Find a GZ DESI fraction column, allowing a campaign suffix on the question.

    Training tables write ``smooth-or-featured-dr8_smooth_fraction`` where the
    catalogue writes ``smooth-or-featured_smooth_fraction``; both are accepted.
    """
    if name in columns:
        return name
    question, _, rest = name.partition("_")
    pattern = re.compile(re.escape(question) + r"-[A-Za-z0-9]+_" + re.escape(rest) + "$")
    found = [c for c in columns if pattern.match(str(c))]
    if len(found) > 1:
        raise InputError(f"ambiguous column for '{name}': {', '.join(found)}")
    return found[0] if found else None


def apply_cuts(table: pd.DataFrame, cuts: list[Cut], *, nan_policy: str = defaults.NAN_POLICY,
               where: tuple[str, ...] | list[str] = ()) -> Selection:
    """Apply morphology cuts, then catalogue expressions, to a table of n galaxies.

    Parameters
    ----------
    table : pandas.DataFrame
        Vote fractions (``{question}_{answer}_fraction``) and any catalogue columns.
    cuts : list of Cut
        Each drops galaxies with ``column >= threshold``. When the table holds no
        vote fraction column at all, the morphology cuts are skipped with a note.
    nan_policy : {"keep", "drop"}
        What a NaN fraction does: "keep" -- NaN never triggers a cut (a masked
        fraction is no evidence for the property) --, or "drop" the galaxy.
    where : sequence of str
        pandas expressions (``DataFrame.eval`` syntax, e.g. ``"mag_r < 17.5"``); a
        galaxy is kept where every expression is True.
    """
    if nan_policy not in NAN_POLICIES:
        raise InputError(f"unknown NaN policy '{nan_policy}'; use one of {NAN_POLICIES}")
    n = len(table)
    mask = np.ones(n, dtype=bool)
    steps, notes = [], []
    has_fractions = any(str(c).endswith("_fraction") for c in table.columns)
    if cuts and not has_fractions:
        notes.append("no vote-fraction columns: morphology cuts skipped "
                     "(give --predictions to apply them)")
        cuts = []
    for cut in cuts:
        column = resolve_column(table.columns, cut.column)
        if column is None:
            raise InputError(f"no column '{cut.column}' for the {cut.name} cut "
                             f"(switch it off with --{cut.name}-cut off)")
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        not_number = int((table[column].notna().to_numpy() & np.isnan(values)).sum())
        if not_number:
            raise InputError(f"column '{column}': {not_number} rows are not numbers")
        outside = int(np.sum((values < 0) | (values > 1)))
        if outside:
            raise InputError(f"column '{column}': {outside} rows are outside [0, 1]; "
                             f"expected vote fractions")
        nan = np.isnan(values)
        hit = values >= cut.threshold  # False where NaN
        if nan_policy == "drop":
            hit |= nan
        removed = mask & hit
        steps.append({"name": cut.name, "rule": f"{column} >= {cut.threshold:g}",
                      "column": column, "removed": int(removed.sum()),
                      "nan": int((mask & nan).sum()), "left": int((mask & ~hit).sum())})
        mask &= ~hit
    for expression in where:
        try:
            result = table.eval(expression)
        except Exception as exc:
            reason = str(exc).splitlines()[0]
            if "is not defined" in reason:  # pandas' UndefinedVariableError
                reason = ("names a column the catalogue does not have (feature columns "
                          "are not available to --where)")
            raise InputError(f"--where '{expression}': {reason}") from exc
        result = np.asarray(result)
        if result.shape != (n,) or result.dtype != bool:
            raise InputError(f"--where '{expression}': does not give one True/False per row")
        removed = mask & ~result
        steps.append({"name": "where", "rule": expression, "column": None,
                      "removed": int(removed.sum()), "nan": 0,
                      "left": int((mask & result).sum())})
        mask &= result
    return Selection(mask=mask, steps=steps, notes=notes)

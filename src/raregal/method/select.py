"""Select the galaxies to search: morphology cuts on predicted vote fractions.

The paper removes featureless, edge-on and artifact galaxies before the search
(:mod:`raregal.core.defaults`). Cuts are applied in order and each reports how many
galaxies it removed from those still left, so the counts add up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.expression import UnknownColumn
from raregal.core.expression import evaluate as evaluate_expression
from raregal.core.params import Interval, Options, Real, validate
from raregal.io import schemas
from raregal.io.catalogue import fraction_columns

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


@dataclass(frozen=True)
class Step:
    """One cut or ``--where`` expression as applied, in order.

    Attributes
    ----------
    name : str
        The cut's name (``featureless``), or ``where``.
    rule : str
        What was tested (``smooth-or-featured_smooth_fraction >= 0.5``).
    column : str or None
        The column the cut read (None for an expression).
    removed : int
        Galaxies removed by this step among those left.
    nan : int
        Of those left, how many had NaN in the column.
    left : int
        Galaxies left after it.
    source : str or None
        The file the column was read from, when known.
    """

    name: str
    rule: str
    column: str | None
    removed: int
    nan: int
    left: int
    source: str | None = None

    def describe(self, nan_policy: str) -> str:
        """One line for the log."""
        source = f" of {self.source}" if self.source else ""
        nan = f" ({self.nan} NaN, rule: {nan_policy})" if self.nan else ""
        return (
            f"cut {self.name} ({self.rule}{source}): removed {self.removed}, {self.left} left{nan}"
        )


@dataclass
class Selection:
    """The outcome of :func:`apply_cuts`.

    Attributes
    ----------
    mask : ndarray of bool, shape (n,)
        True for the galaxies kept.
    steps : list of Step
        One per cut and expression, in order; ``dataclasses.asdict`` gives run.json's.
    notes : list of str
    """

    mask: np.ndarray
    steps: list[Step]
    notes: list[str]


def paper_cuts(
    smooth: float | None = defaults.SMOOTH_THRESHOLD,
    edge_on: float | None = defaults.EDGE_ON_THRESHOLD,
    artifact: float | None = defaults.ARTIFACT_THRESHOLD,
) -> list[Cut]:
    """The paper's three morphology cuts; a threshold of None leaves that cut out.

    The artifact experiment of the paper is ``paper_cuts(artifact=None)``.
    """
    cuts = [
        Cut("featureless", defaults.SMOOTH_COLUMN, smooth),
        Cut("edge-on", defaults.EDGE_ON_COLUMN, edge_on),
        Cut("artifact", defaults.ARTIFACT_COLUMN, artifact),
    ]
    return [cut for cut in cuts if cut.threshold is not None]


def resolve_column(columns, name: str) -> str | None:
    """:func:`raregal.io.schemas.resolve_column`, with an ambiguity as an InputError."""
    try:
        return schemas.resolve_column(columns, name)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def apply_cuts(
    table: pd.DataFrame,
    cuts: list[Cut],
    *,
    nan_policy: str = defaults.NAN_POLICY,
    where: tuple[str, ...] | list[str] = (),
    fractions_given: bool | None = None,
    sources=None,
) -> Selection:
    """Apply morphology cuts, then catalogue expressions, to a table of n galaxies.

    Parameters
    ----------
    table : pandas.DataFrame
        Vote fractions (``{question}_{answer}_fraction``) and any catalogue columns.
    cuts : list of Cut
        Each drops galaxies with ``column >= threshold``. A cut whose column is
        missing is an error naming the column (switch the cut off instead), except
        when no vote fraction was given at all (``fractions_given`` False): the
        cuts are then skipped with a note, recorded in run.json.
    nan_policy : {"keep", "drop"}
        What a NaN fraction does: "keep" -- NaN never triggers a cut (a masked
        fraction is no evidence for the property) --, or "drop" the galaxy.
    where : sequence of str
        Conditions on columns (:mod:`raregal.core.expression`: pandas' query syntax for
        comparisons, arithmetic and and/or/not, read and never run as code), e.g.
        ``"mag_r_desi < 19.0"`` on GZ DESI's external catalogue; a galaxy is kept
        where every one is True.
    fractions_given : bool, optional
        Whether the inputs hold vote fractions (predictions were given, or the
        table has ``*_fraction`` columns); default: whether ``table`` has any.
    sources : dict, optional
        Column -> the file it was read from, recorded in each step.
    """
    if nan_policy not in NAN_POLICIES:
        raise InputError(f"unknown NaN policy '{nan_policy}'; use one of {NAN_POLICIES}")
    n = len(table)
    mask = np.ones(n, dtype=bool)
    steps, notes = [], []
    if fractions_given is None:
        fractions_given = bool(fraction_columns(table.columns))
    if cuts and not fractions_given:
        notes.append(
            "no vote-fraction columns: morphology cuts skipped (give --predictions to apply them)"
        )
        cuts = []
    for cut in cuts:
        column = resolve_column(table.columns, cut.column)
        if column is None:
            raise InputError(
                f"no column '{cut.column}' for the {cut.name} cut "
                f"(switch it off with --{cut.name}-cut off)"
            )
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        not_number = int((table[column].notna().to_numpy() & np.isnan(values)).sum())
        if not_number:
            raise InputError(f"column '{column}': {not_number} rows are not numbers")
        outside = int(np.sum((values < 0) | (values > 1)))
        if outside:
            raise InputError(
                f"column '{column}': {outside} rows are outside [0, 1]; expected vote fractions"
            )
        nan = np.isnan(values)
        hit = values >= cut.threshold  # False where NaN
        if nan_policy == "drop":
            hit |= nan
        removed = mask & hit
        steps.append(
            Step(
                cut.name,
                f"{column} >= {cut.threshold:g}",
                column,
                removed=int(removed.sum()),
                nan=int((mask & nan).sum()),
                left=int((mask & ~hit).sum()),
                source=(sources or {}).get(column),
            )
        )
        mask &= ~hit
    for expression in where:
        try:
            result = evaluate_expression(expression, table)
        except UnknownColumn as exc:
            raise InputError(
                f"--where '{expression}': names a column the catalogue does not "
                f"have ('{exc.name}'; feature columns are not available to "
                f"--where)"
            ) from None
        except InputError as exc:
            raise InputError(f"--where '{expression}': {exc}") from None
        removed = mask & ~result
        steps.append(
            Step(
                "where",
                expression,
                None,
                removed=int(removed.sum()),
                nan=0,
                left=int((mask & result).sum()),
            )
        )
        mask &= result
    return Selection(mask=mask, steps=steps, notes=notes)

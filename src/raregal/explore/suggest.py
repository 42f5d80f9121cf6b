"""The explorer's "suggest next": rounds of galaxies to look at, learnt from the tags.

The tags are the user's labels (:func:`labels`). A galaxy tagged ``interesting`` is
of the kind the user is after (a positive); one tagged ``not real`` or ``artifact``
is not (a negative); a class's tag counts for each of its members, and a galaxy's
own tag over its class's; a galaxy shown in an earlier round and not tagged
positive counts as a negative (seen and passed over: the loop bench/discovery.py
measures labels every suggestion so). A galaxy tagged both ways is a negative.

A round (:meth:`Suggester.next_round`) scores every galaxy with
:func:`raregal.method.rank.scores` on the run's features (read once: from the run's
neighbour index, else by :func:`raregal.method.rank.read_source`) from every label
so far, and shows the best not labelled, tagged or shown before
(:func:`raregal.method.rank.top_rows`). Without a positive, a round shows the rarest
galaxies not yet shown (the run's ``rarity`` column), as a first round. Rounds are
kept in the run's tag store (:meth:`raregal.explore.tags.TagStore.add_round`): which
galaxies, when, ranked by what and from how many labels; what the user said is their
tags. So a session resumes after a restart, and each round's yield ("round 3: 4 of
10 tagged interesting") is read back from the store.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.explore.data import RunData
from raregal.explore.tags import TagStore
from raregal.io.export import spreadsheet_safe
from raregal.method.rank import read_source, scores, standardise, top_rows

POSITIVE = ("interesting",)
NEGATIVE = ("not real", "artifact")
BASIS = {
    "rank": "ranked by raregal rank from {likes} positive and {unlikes} negative galaxies",
    "rarity": "the rarest galaxies not yet shown (no galaxy was tagged interesting)",
}


def _tag_rows(data: RunData, tag: dict) -> np.ndarray:
    """The rows a tag labels: the galaxy, or every member of the class."""
    if tag["kind"] == "galaxy":
        row = data.row_of.get(tag["target"])
        return np.zeros(0, np.int64) if row is None else np.array([row], np.int64)
    try:
        return data.class_rows(tag["target"])
    except KeyError:  # a class of an earlier version of the run folder
        return np.zeros(0, np.int64)


def labels(data: RunData, tags: list[dict], shown: np.ndarray):
    """(positive rows, negative rows, rows to leave out) from the tags and the rows
    shown in earlier rounds (module docstring: which label wins)."""
    label = np.zeros(len(data.table), np.int8)
    label[shown] = -1  # passed over, unless a tag says otherwise
    for kind in ("class", "galaxy"):  # weakest first: a galaxy's own tag wins
        mine = [t for t in tags if t["kind"] == kind]
        for sign, names in ((1, POSITIVE), (-1, NEGATIVE)):  # negative last: it wins
            for tag in mine:
                if tag["tag"] in names:
                    label[_tag_rows(data, tag)] = sign
    tagged = [row for t in tags if t["kind"] == "galaxy" for row in _tag_rows(data, t)]
    leave_out = np.union1d(np.flatnonzero(label != 0), np.asarray(tagged, np.int64))
    return np.flatnonzero(label > 0), np.flatnonzero(label < 0), leave_out


class Suggester:
    """Suggestion rounds over one run's explorer: ranks, and keeps rounds in ``tags``."""

    def __init__(self, data: RunData, tags: TagStore):
        self.data, self.tags = data, tags
        self._features = None
        self._problem: str | None = None
        self._read_lock = threading.Lock()
        self._round_lock = threading.Lock()

    def features(self) -> np.ndarray:
        """The run's standardised features in its row order, read once; InputError (one
        line, kept) when the representation table is gone or changed."""
        with self._read_lock:
            if self._features is None and self._problem is None:
                index = self.data.index  # in the run's order: no second read of the run
                try:
                    if index is not None and index.space == "representation":
                        self._features = standardise(index.features)
                    else:
                        ids, features, _, _ = read_source(self.data.dir)
                        order = pd.Index(ids).get_indexer(self.data.ids)
                        self._features = standardise(features)[order]
                except InputError as exc:
                    self._problem = str(exc)
        if self._problem is not None:
            raise InputError(self._problem)
        return self._features

    def _shown(self, rounds: list[dict]) -> np.ndarray:
        found = self.data.row_of.reindex([r["target"] for r in rounds]).dropna()
        return found.to_numpy(np.int64)

    def _score(self, like, unlike) -> tuple[np.ndarray, str]:
        if len(like):
            return scores(self.features(), like, unlike, seed=defaults.SEED), "rank"
        if "rarity" not in self.data.table.columns:
            raise InputError(
                "no galaxy is tagged interesting yet: tag some galaxies of the "
                "kind you want interesting (on their card), then ask again"
            )
        rarity = pd.to_numeric(self.data.table["rarity"], errors="coerce").to_numpy(np.float64)
        return np.nan_to_num(rarity, nan=-np.inf), "rarity"

    def next_round(self, k: int = defaults.SUGGEST_PER_ROUND) -> int:
        """Rank with every label so far, keep the best ``k`` new galaxies as the next
        round, and return its number. InputError when there is nothing to rank from
        or nothing left to show."""
        with self._round_lock:  # one round at a time: each ranks with the one before
            rounds = self.tags.rounds()
            like, unlike, leave_out = labels(self.data, self.tags.list(), self._shown(rounds))
            score, basis = self._score(like, unlike)
            best = top_rows(score, leave_out, k)
            best = best[np.isfinite(score[best])]
            if not len(best):
                raise InputError("nothing left to suggest: every galaxy is labelled or was shown")
            return self.tags.add_round(
                self.data.ids.to_numpy()[best], score[best], basis, len(like), len(unlike)
            )

    def state(self) -> dict:
        """What the page shows: the rounds, newest last, each galaxy with its tags and
        each round with its yield; the labels so far; and what stops a ranking."""
        rounds, tags = self.tags.rounds(), self.tags.list()
        like, unlike, _ = labels(self.data, tags, self._shown(rounds))
        said = _galaxy_tags(tags)
        try:
            self.features()
            problem = None
        except InputError as exc:
            problem = f"suggestions from tags are off: {exc}"
        return {
            "rounds": [self._round(r, said) for r in _by_round(rounds)],
            "positives": len(like),
            "negatives": len(unlike),
            "problem": problem,
            "status": (
                f"{len(like)} positive galaxies ({', '.join(POSITIVE)}), "
                f"{len(unlike)} negative ({', '.join(NEGATIVE)}, or shown and "
                f"not tagged interesting)"
            ),
            "start": _start_text(len(like), "rarity" in self.data.table.columns),
            "label_tags": [*POSITIVE, *NEGATIVE],
            "per_round": defaults.SUGGEST_PER_ROUND,
        }

    def _round(self, rows: list[dict], said: dict) -> dict:
        first = rows[0]
        galaxies = []
        for r in rows:
            row = self.data.row_of.get(r["target"])
            if row is None:  # a galaxy of an earlier version of the run folder
                continue
            galaxies.append(
                {
                    "row": int(row),
                    "id": r["target"],
                    "score": _finite(r["score"]),
                    "class": self.data.letters.iloc[row],
                    "image": r["target"] in self.data.image_of,
                    "tags": said.get(r["target"], []),
                }
            )
        return {
            "round": first["round"],
            "created": first["created"],
            "basis": first["basis"],
            "likes": first["likes"],
            "unlikes": first["unlikes"],
            "basis_text": BASIS.get(first["basis"], first["basis"]).format(**first),
            "summary": _yield(first["round"], [said.get(r["target"], []) for r in rows]),
            "galaxies": galaxies,
        }

    def csv(self) -> str:
        """Every round's suggestions, one row each, with the tags the galaxy has now
        (text cells spreadsheet-safe)."""
        said = _galaxy_tags(self.tags.list())
        table = pd.DataFrame(
            self.tags.rounds(),
            columns=[
                "round",
                "created",
                "basis",
                "likes",
                "unlikes",
                "position",
                "target",
                "score",
            ],
        )
        rows = self.data.row_of.reindex(table["target"])
        table["class_letter"] = [
            self.data.letters.iloc[int(r)] if pd.notna(r) else "" for r in rows
        ]
        table["tags"] = ["; ".join(said.get(t, [])) for t in table["target"]]
        table = table.rename(columns={"target": self.data.id_column})
        return spreadsheet_safe(table).to_csv(index=False)


def _galaxy_tags(tags: list[dict]) -> dict[str, list[str]]:
    said: dict[str, list[str]] = {}
    for t in tags:
        if t["kind"] == "galaxy":
            said.setdefault(t["target"], []).append(t["tag"])
    return said


def _by_round(rows: list[dict]) -> list[list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for r in rows:
        grouped.setdefault(r["round"], []).append(r)
    return list(grouped.values())


def _yield(number: int, said: list[list[str]]) -> str:
    """ "round 3: 4 of 10 tagged interesting" (and how many not real or artifact)."""
    good = sum(any(t in POSITIVE for t in tags) for tags in said)
    bad = sum(any(t in NEGATIVE for t in tags) for tags in said)
    text = f"round {number}: {good} of {len(said)} tagged {' or '.join(POSITIVE)}"
    return text + (f", {bad} {' or '.join(NEGATIVE)}" if bad else "")


def _start_text(positives: int, has_rarity: bool) -> str | None:
    if positives:
        return None
    if has_rarity:
        return (
            "No galaxy is tagged interesting yet: the next round shows the rarest "
            "galaxies; tag those of the kind you want interesting."
        )
    return "Tag some galaxies interesting first (on their card): suggestions learn from them."


def _finite(value):
    return float(value) if value is not None and np.isfinite(value) else None

"""Galaxy Zoo decision trees: questions, answers and which answer asks each question.

A schema orders the answers of all questions into one vector, the output of a
Dirichlet head (one concentration per answer). Column names follow the GZ DESI
catalogue, ``{question}_{answer}_fraction`` (docs/conventions.md); Galaxy Zoo 2
questions that GZ DESI shares use the same names, so the paper's cuts read both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Question:
    """One question of a decision tree.

    ``asked_if`` names the answer (``question_answer``) that leads to it; None
    for questions every volunteer is asked.
    """

    name: str
    answers: tuple[str, ...]
    asked_if: str | None = None


@dataclass(frozen=True)
class Schema:
    name: str
    questions: tuple[Question, ...]

    @property
    def answers(self) -> list[str]:
        """``question_answer`` for every answer, in head-output order."""
        return [f"{q.name}_{a}" for q in self.questions for a in q.answers]

    @property
    def fraction_columns(self) -> list[str]:
        return [f"{answer}_fraction" for answer in self.answers]

    @property
    def slices(self) -> list[slice]:
        """Where each question's answers sit in the head's output."""
        out, start = [], 0
        for question in self.questions:
            out.append(slice(start, start + len(question.answers)))
            start += len(question.answers)
        return out

    def subset(self, names) -> Schema:
        """The schema restricted to the named questions (dependencies kept as text)."""
        wanted = set(names)
        unknown = wanted - {q.name for q in self.questions}
        if unknown:
            raise ValueError(f"schema {self.name} has no question {sorted(unknown)}")
        return Schema(f"{self.name}-subset", tuple(q for q in self.questions if q.name in wanted))

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "questions": [
                {"name": q.name, "answers": list(q.answers), "asked_if": q.asked_if}
                for q in self.questions
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        return cls(
            data["name"],
            tuple(
                Question(q["name"], tuple(q["answers"]), q["asked_if"]) for q in data["questions"]
            ),
        )


#: Galaxy Zoo DESI (Walmsley et al. 2023), as in the published catalogue.
GZ_DESI = Schema(
    "gz_desi",
    (
        Question("smooth-or-featured", ("smooth", "featured-or-disk", "artifact")),
        Question("disk-edge-on", ("yes", "no"), "smooth-or-featured_featured-or-disk"),
        Question("has-spiral-arms", ("yes", "no"), "disk-edge-on_no"),
        Question("bar", ("strong", "weak", "no"), "disk-edge-on_no"),
        Question(
            "bulge-size", ("dominant", "large", "moderate", "small", "none"), "disk-edge-on_no"
        ),
        Question(
            "how-rounded", ("round", "in-between", "cigar-shaped"), "smooth-or-featured_smooth"
        ),
        Question("edge-on-bulge", ("boxy", "none", "rounded"), "disk-edge-on_yes"),
        Question("spiral-winding", ("tight", "medium", "loose"), "has-spiral-arms_yes"),
        Question(
            "spiral-arm-count",
            ("1", "2", "3", "4", "more-than-4", "cant-tell"),
            "has-spiral-arms_yes",
        ),
        Question("merging", ("none", "minor-disturbance", "major-disturbance", "merger")),
    ),
)

#: Galaxy Zoo 2 (Willett et al. 2013) / the Galaxy Challenge's Class1-Class11, in
#: that order (``kaggle_column`` maps each answer to its ``ClassQ.A`` column).
GZ2 = Schema(
    "gz2",
    (
        Question("smooth-or-featured", ("smooth", "featured-or-disk", "artifact")),
        Question("disk-edge-on", ("yes", "no"), "smooth-or-featured_featured-or-disk"),
        Question("bar", ("yes", "no"), "disk-edge-on_no"),
        Question("has-spiral-arms", ("yes", "no"), "disk-edge-on_no"),
        Question(
            "bulge-size", ("none", "just-noticeable", "obvious", "dominant"), "disk-edge-on_no"
        ),
        Question("something-odd", ("yes", "no")),
        Question(
            "how-rounded", ("round", "in-between", "cigar-shaped"), "smooth-or-featured_smooth"
        ),
        Question(
            "odd-feature",
            ("ring", "lens-or-arc", "disturbed", "irregular", "other", "merger", "dust-lane"),
            "something-odd_yes",
        ),
        Question("edge-on-bulge", ("rounded", "boxy", "none"), "disk-edge-on_yes"),
        Question("spiral-winding", ("tight", "medium", "loose"), "has-spiral-arms_yes"),
        Question(
            "spiral-arm-count",
            ("1", "2", "3", "4", "more-than-4", "cant-tell"),
            "has-spiral-arms_yes",
        ),
    ),
)

SCHEMAS = {schema.name: schema for schema in (GZ_DESI, GZ2)}


def kaggle_column(schema_answer: str) -> str:
    """The Galaxy Challenge column (``Class1.1`` …) of a GZ2 answer."""
    for q, question in enumerate(GZ2.questions, start=1):
        for a, answer in enumerate(question.answers, start=1):
            if schema_answer == f"{question.name}_{answer}":
                return f"Class{q}.{a}"
    raise KeyError(schema_answer)


#: Answers that another release names differently, GZ DESI's name first: Euclid Q1's
#: morphology catalogue says ``problem`` where GZ DESI says ``artifact``
#: (``smooth-or-featured_problem_fraction``; Zenodo 15106473).
ANSWER_ALIASES = {"smooth-or-featured_artifact": ("smooth-or-featured_problem",)}

#: Every question name of the known schemas, for recognising prediction columns.
QUESTIONS = frozenset(q.name for schema in (GZ_DESI, GZ2) for q in schema.questions)

#: The campaign suffixes of galaxy-datasets' ``shared/label_metadata.py`` ("ortho"
#: schemas: ``smooth-or-featured-dr8``, ``disk-edge-on-euclid`` …), Zoobot's label_cols.
CAMPAIGNS = ("dr12", "dr5", "dr8", "gz2", "candels", "hubble", "cd", "jwst", "ukidss", "euclid")
_CAMPAIGN = re.compile(r"^(.+)-(" + "|".join(CAMPAIGNS) + r"|dr\d+)$")

#: The answer that leads to each question, the rest of the tree to GZ DESI's:
#: galaxy-datasets' label_metadata dependencies (``{question}-{campaign}`` -> the
#: answer asked before it), suffix removed. DECaLS dr5/dr8, Cosmic Dawn, Euclid and
#: JWST share GZ DESI's tree; the questions only other trees ask come after it.
ASKED_IF = {
    **{q.name: q.asked_if for q in GZ_DESI.questions},
    "clumps": "disk-edge-on_no",
    "problem": "smooth-or-featured_problem",
    "artifact": "problem_artifact",
    "something-odd": None,
    "odd-feature": "something-odd_yes",
    "bulge-shape": "disk-edge-on_yes",
    "ring": None,
}
_GZ2_TREE = {
    q: "smooth-or-featured_featured-or-disk" for q in ("has-spiral-arms", "bar", "bulge-size")
}
_HUBBLE_TREE = {
    "clumpy-appearance": "smooth-or-featured_features",
    "clump-count": "clumpy-appearance_yes",
    "galaxy-symmetrical": "clumpy-appearance_yes",
    "clumps-embedded-larger-object": "clumpy-appearance_yes",
    "disk-edge-on": "clumpy-appearance_no",
    **{q: "disk-edge-on_no" for q in ("has-spiral-arms", "spiral-winding", "spiral-arm-count")},
}
#: Where a campaign's tree differs (label_metadata: gz2/ukidss ask the disc questions
#: of every featured galaxy; Hubble and CANDELS ask edge-on after clumpy "no").
CAMPAIGN_ASKED_IF = {
    "gz2": _GZ2_TREE,
    "ukidss": _GZ2_TREE,
    "hubble": _HUBBLE_TREE,
    "candels": _HUBBLE_TREE,
    "jwst": {"problem": "smooth-or-featured_star-artifact-zoom", "clumps": None},
}
#: Questions recognised only with a campaign suffix (``problem-euclid_star``): bare,
#: ``problem_…`` or ``ring_…`` could be anyone's column.
CAMPAIGN_QUESTIONS = QUESTIONS | set(ASKED_IF) | set(_HUBBLE_TREE)


def split_campaign(question: str) -> tuple[str, str | None]:
    """``smooth-or-featured-dr8`` -> ``("smooth-or-featured", "dr8")``; a question
    without a known campaign suffix comes back whole, with None."""
    match = _CAMPAIGN.match(question)
    if match and match.group(1) in CAMPAIGN_QUESTIONS:
        return match.group(1), match.group(2)
    return question, None


def answer_label(name: str) -> tuple[str, str] | None:
    """``(question, answer)`` of a prediction column ``{question}[-campaign]_{answer}``
    (Zoobot's ``label_cols``, e.g. ``smooth-or-featured-dr8_smooth``), else None."""
    question, sep, answer = name.partition("_")
    # no answer has an underscore: "smooth_fraction", "smooth_90pc-lower" are statistics
    if not sep or not answer or "_" in answer or answer == "total-votes":
        return None
    base, campaign = split_campaign(question)
    if campaign is None:
        base = re.sub(r"-[a-z]+\d+$", "", question)  # a campaign raregal does not list
    known = CAMPAIGN_QUESTIONS if campaign else QUESTIONS
    return (base, answer) if base in known else None


def campaign_of(name: str) -> str | None:
    """The campaign of a Galaxy Zoo column (``disk-edge-on-dr5_yes_fraction`` -> dr5)."""
    return split_campaign(name.partition("_")[0])[1]


def parent_answer(question: str) -> str | None:
    """The answer (``question_answer``, same campaign) whose volunteers are asked
    ``question``; None for a question everyone is asked. KeyError: unknown."""
    base, campaign = split_campaign(question)
    tree = CAMPAIGN_ASKED_IF.get(campaign, {})
    parent = tree[base] if base in tree else ASKED_IF[base]
    if parent is None or campaign is None:
        return parent
    q, _, a = parent.partition("_")
    return f"{q}-{campaign}_{a}"


def proportion_asked(question: str, fraction, n: int) -> np.ndarray | None:
    """The probability that a volunteer is asked ``question``, from vote fractions.

    As Zoobot (``shared/stats.get_expected_votes_ml`` with ``Schema.joint_p``, which
    ``prediction_hdf5_to_summary_parquet`` uses to mask GZ DESI's friendly table): 1
    for a question everyone is asked, else the product of the fractions of the
    answers leading to it (edge-on: featured-or-disk; spiral: featured-or-disk ×
    edge-on no).

    Parameters
    ----------
    question : str
        ``{question}[-campaign]``.
    fraction : callable
        ``fraction(label)`` -> the unmasked vote fraction of ``question_answer``,
        or None where the table has none.
    n : int
        Rows.

    Returns
    -------
    ndarray of float64, shape (n,), or None where the tree is unknown or an answer
    on the way is absent.
    """
    chain = answers_before(question)
    out = None if chain is None else np.ones(n)
    for answer in chain or ():
        values = fraction(answer)
        if values is None:
            return None
        out = out * np.asarray(values, dtype=np.float64)
    return out


def answers_before(question: str) -> list[str] | None:
    """The answers leading to ``question``, nearest first (edge-on's:
    ``["smooth-or-featured_featured-or-disk"]``); None where its tree is unknown."""
    chain = []
    while True:
        try:
            parent = parent_answer(question)
        except KeyError:
            return None
        if parent is None:
            return chain
        chain.append(parent)
        question = parent.partition("_")[0]


def resolve_column(columns, name: str) -> str | None:
    """Find a vote-fraction column under the names releases give it.

    ``{question}_{answer}_fraction`` as in GZ DESI's catalogue; with a campaign
    suffix on the question as in training tables and Zoobot's predictions
    (``smooth-or-featured-dr8_smooth_fraction``); or under an answer alias
    (:data:`ANSWER_ALIASES`). Returns None when absent; raises ValueError when
    several columns match.
    """
    columns = [str(c) for c in columns]
    if name in columns:
        return name
    names = [name]
    for answer, aliases in ANSWER_ALIASES.items():
        if name.startswith(answer + "_"):
            names += [alias + name[len(answer) :] for alias in aliases]
    found = []
    for candidate in names:
        question, _, rest = candidate.partition("_")
        pattern = re.compile(re.escape(question) + r"(-[A-Za-z0-9]+)?_" + re.escape(rest) + "$")
        found += [c for c in columns if pattern.match(c) and c not in found]
    if len(found) > 1:
        raise ValueError(f"ambiguous column for '{name}': {', '.join(found)}")
    return found[0] if found else None


def get_schema(name: str) -> Schema:
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ValueError(f"unknown schema '{name}'; known: {', '.join(SCHEMAS)}") from None

"""The one expression reader (raregal.core.expression): what pandas' query selects on
plain conditions, and no code run from any payload, through --where, --type and the
explorer's query."""

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.core.errors import InputError
from raregal.core.expression import UnknownColumn, evaluate
from raregal.measure.evaluate import type_flags
from raregal.method.select import apply_cuts


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.random(50),
            "b": rng.integers(-3, 4, 50).astype(float),
            "Class6.1": rng.random(50),
            "s": rng.choice(["x", "y", "z"], 50),
            "class": rng.integers(-1, 3, 50),
        }
    ).assign(a=lambda t: t["a"].mask(t.index % 7 == 0))  # NaN in some rows


#: Conditions that pandas' own query reads the same way (its result is the reference).
AGREE = [
    "a > 0.5",
    "a > 0.5 and b <= 1",
    "a > 0.5 & b <= 1 | s == 'z'",
    "not a > 0.5",
    "~(a > 0.5)",
    "0.2 < a < 0.7",
    "b in [1, -2]",
    "s not in ('x', 'y')",
    "b == [0, 1]",
    "b != [0, 1]",
    "a * 2 - b ** 2 >= -b // 2 % 3",
    "-a < -0.3",
    "a != a",
    "`Class6.1` > 0.5 and `Class6.1` > 0.5 * a",
    "(a > 0.9) or (b > 2) and s == 'y'",
]


@pytest.mark.parametrize("expression", AGREE)
def test_agrees_with_pandas_query(table, expression):
    expected = table.eval(expression, engine="python").to_numpy(dtype=bool)
    np.testing.assert_array_equal(evaluate(expression, table), expected)


def test_keywords_and_backquotes_name_columns(table):
    np.testing.assert_array_equal(evaluate("class == 2", table), table["class"] == 2)
    np.testing.assert_array_equal(
        evaluate("`class` >= 1 and a > 0.1", table), (table["class"] >= 1) & (table["a"] > 0.1)
    )
    with pytest.raises(UnknownColumn, match="no column 'Class9.9'"):
        evaluate("`Class9.9` > 1", table)


#: Payloads of issue 39's campaign and their variants: each reached the interpreter
#: through DataFrame.eval.
PAYLOADS = [
    "(`smooth-or-featured_smooth_fraction` >= 0) & (@pd.io.common.os.system('{cmd}') == 0)",
    "a.__class__.__init__.__globals__['np'].os.system('{cmd}') == 0",
    "a >= 0 & (a.to_csv('{out}') == 0)",
    "__import__('os').system('{cmd}') == 0",
    "(lambda: __import__('os').system('{cmd}'))() == 0",
    "[x for x in ().__class__.__base__.__subclasses__()] == 0",
    "a.apply(print) == 0",
    "a[0] > 1",
    "a if b else b",
    "@a > 0",
    "open('{out}', 'w') == 0",
    "{{1: 2}} == 0",
    "f'{{a}}' == 0",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_runs(table, payload, tmp_path):
    out = tmp_path / "out"
    expression = payload.format(cmd=f"touch {out}", out=out)
    with pytest.raises(InputError):
        evaluate(expression, table.assign(**{"smooth-or-featured_smooth_fraction": 0.5}))
    assert not out.exists()


@pytest.mark.parametrize(
    "expression, message",
    [
        ("", "is empty"),
        ("a > ", "is not a condition"),
        ("a" * 1001, "longer than 1000"),
        ("a + 1", "does not give one True/False per row"),
        ("s > 1", "cannot compare"),
        ("`a > 1", "unclosed backquote"),
        ("s == 'x", "unclosed string"),
        ("(" * 300 + "a > 1" + ")" * 300, "not a condition"),
        ("a > 0.5 and b", "true/false conditions on both sides"),
        ("a in [b]", "lists may hold only numbers and strings"),
    ],
)
def test_bad_expressions_get_one_line(table, expression, message):
    with pytest.raises(InputError, match=message) as raised:
        evaluate(expression, table)
    assert "\n" not in str(raised.value)


def test_where_payload_stops_the_search_before_work(planted, tmp_path, capsys):
    """The issue's command: exits 0 with a complete run, and the shell command ran."""
    planted.to_parquet(tmp_path / "reps.parquet", index=False)
    marker = tmp_path / "ran"
    where = (
        "(`smooth-or-featured_smooth_fraction` >= 0) & "
        f"(@pd.io.common.os.system('touch {marker}') == 0)"
    )
    code = main(
        [
            "search",
            str(tmp_path / "reps.parquet"),
            "--where",
            where,
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    assert code == 2 and not marker.exists() and not (tmp_path / "run").exists()
    assert "no @variables" in capsys.readouterr().err


def test_type_payload_refused(tmp_path):
    marker = tmp_path / "ran"
    labels = pd.DataFrame({"planted": [0, 1, 2]})
    with pytest.raises(InputError, match="cannot evaluate type 'x'"):
        type_flags(
            labels, {"x": f"(planted >= 0) & (@pd.io.common.os.system('touch {marker}') == 0)"}
        )
    with pytest.raises(InputError, match="cannot evaluate type 'y'"):
        type_flags(labels, {"y": "planted.__class__.__init__.__globals__['np'] == 0"})
    assert not marker.exists()


def test_where_reads_the_same_rows_as_before(table):
    selection = apply_cuts(table, [], where=["a > 0.5 and s != 'x'", "`class` >= 0"])
    expected = (table["a"] > 0.5) & (table["s"] != "x") & (table["class"] >= 0)
    np.testing.assert_array_equal(selection.mask, expected)
    assert [step.left for step in selection.steps] == [
        int(((table["a"] > 0.5) & (table["s"] != "x")).sum()),
        int(expected.sum()),
    ]

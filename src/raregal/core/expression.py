"""Conditions on table columns, read by raregal and never run as code.

One reader for every expression a user writes: ``raregal search --where``,
``raregal evaluate --type`` and the explorer's query box. An expression is parsed
into Python's syntax tree, checked against a whitelist, and then *interpreted* here
on the table's columns. Nothing is handed to ``eval``, ``pandas.eval`` or numexpr,
whose ``@variables``, attribute chains and method calls reach the interpreter
(``@pd.io.common.os.system(...)`` runs a shell command through ``DataFrame.eval``).

The language is the part of pandas' query syntax that a condition on columns needs:

- column names, bare or in backquotes (`` `Class6.1` ``, `` `class` ``: any name, a
  Python keyword included);
- numbers, strings, ``True``/``False``; lists or tuples of these after ``in``,
  ``not in``, ``==`` or ``!=`` (membership, as in pandas);
- comparisons ``== != < <= > >=``, chained (``0 < x < 1``);
- arithmetic ``+ - * / // % **`` and unary ``-``/``+``;
- ``and``/``or``/``not``, and ``&``/``|``/``~`` with the same (boolean) precedence,
  as pandas gives them.

Anything else (calls, attributes, subscripts, ``@``, lambdas, comprehensions) is
refused with one line. Comparisons with a missing value (NaN) are False, as in
pandas.
"""

from __future__ import annotations

import ast
import keyword
import operator

import numpy as np
import pandas as pd

from raregal.core.errors import InputError

#: Longest expression read: a condition a person types, not a program.
MAX_LENGTH = 1000
#: Deepest syntax tree interpreted (the interpreter recurses; a condition a person
#: writes is a few levels deep, ``a + a + … + a`` over 1000 characters about 330).
MAX_DEPTH = 400

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
#: Keywords that are operators of the language, never column names.
_OPERATOR_WORDS = {"and", "or", "not", "in", "True", "False"}
_PLACEHOLDER = "_rg_column_{}_"


class UnknownColumn(InputError):
    """An expression names a column the table does not have."""

    def __init__(self, name: str):
        super().__init__(f"no column '{name}'")
        self.name = name


def evaluate(expression: str, table: pd.DataFrame) -> np.ndarray:
    """True/False per row of ``table`` where ``expression`` holds.

    Parameters
    ----------
    expression : str
        A condition in the language of this module's docstring.
    table : pandas.DataFrame, shape (n, m), or dict of str to pandas.Series
        The columns the expression may name (each of length n).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Raises
    ------
    InputError
        One line: the expression is not of the language, names a column that is not
        in ``table`` (:class:`UnknownColumn`), or is not a true/false condition.
    """
    tree, names = parse(expression, table.keys())
    value = _Interpreter(table, names).visit(tree.body)
    if not isinstance(value, pd.Series) or not pd.api.types.is_bool_dtype(value.dtype):
        raise InputError("does not give one True/False per row")
    return value.to_numpy(dtype=bool)


def column_names(expression: str, columns=()) -> list[str]:
    """The columns of ``columns`` that ``expression`` reads (checked as :func:`parse`
    checks it), for a caller that looks at their values first: raregal evaluate
    leaves a galaxy with a missing one out of the type."""
    tree, names = parse(expression, columns)
    read = {names.get(node.id, node.id) for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return [str(c) for c in columns if str(c) in read]


def parse(expression: str, columns=()) -> tuple[ast.Expression, dict[str, str]]:
    """The checked syntax tree of ``expression`` and the column names its
    placeholders stand for. ``columns`` lets bare Python keywords that are column
    names (``class``) be read as columns."""
    if not isinstance(expression, str) or not expression.strip():
        raise InputError("is empty")
    if len(expression) > MAX_LENGTH:
        raise InputError(f"is longer than {MAX_LENGTH} characters")
    text, names = _substitute_names(expression, {str(c) for c in columns})
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InputError(f"is not a condition ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError):
        raise InputError("is not a condition (too deeply nested)") from None
    for node in ast.walk(tree):
        _check(node, names)
    if _depth(tree) > MAX_DEPTH:
        raise InputError(f"is nested more than {MAX_DEPTH} levels deep")
    return tree, names


def _depth(tree: ast.AST) -> int:
    """Depth of the tree, without recursion (the interpreter recurses)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _substitute_names(expression: str, columns: set[str]) -> tuple[str, dict[str, str]]:
    """Replace backquoted names (and bare keywords that are columns) by placeholders,
    and ``&``/``|`` by ``and``/``or``, outside string literals."""
    names: dict[str, str]  # placeholder -> column
    out, names, i = [], {}, 0

    def name(column):
        placeholder = _PLACEHOLDER.format(len(names))
        names[placeholder] = column
        return f" {placeholder} "

    while i < len(expression):
        char = expression[i]
        if char in "'\"":
            end = _string_end(expression, i)
            out.append(expression[i:end])
            i = end
        elif char == "`":
            end = expression.find("`", i + 1)
            if end < 0:
                raise InputError("has an unclosed backquote")
            out.append(name(expression[i + 1 : end]))
            i = end + 1
        elif char in "&|":
            out.append(" and " if char == "&" else " or ")
            i += 1
        elif char == "@":
            raise InputError("may name columns only (no @variables)")
        elif char.isalpha() or char == "_":
            end = i
            while end < len(expression) and (expression[end].isalnum() or expression[end] == "_"):
                end += 1
            word = expression[i:end]
            bare_keyword = keyword.iskeyword(word) and word not in _OPERATOR_WORDS
            out.append(name(word) if bare_keyword and word in columns else word)
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out), names


def _string_end(text: str, start: int) -> int:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise InputError("has an unclosed string")


_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Invert,
    ast.Compare,
    ast.In,
    ast.NotIn,
    ast.BinOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    *_COMPARE,
    *_ARITHMETIC,
    *_UNARY,
)


def _check(node: ast.AST, names: dict[str, str]) -> None:
    if not isinstance(node, _ALLOWED):
        raise InputError(
            f"may hold only columns, numbers, strings, comparisons, arithmetic "
            f"and and/or/not (not {type(node).__name__})"
        )
    if isinstance(node, ast.Name) and node.id.startswith("__") and node.id not in names:
        raise InputError(f"may not name '{node.id}'")
    if isinstance(node, ast.Constant) and not isinstance(node.value, (bool, int, float, str)):
        raise InputError(f"may not hold the constant {node.value!r}")
    if isinstance(node, (ast.List, ast.Tuple)) and not all(
        isinstance(e, ast.Constant)
        or (isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant))
        for e in node.elts
    ):
        raise InputError("lists may hold only numbers and strings")


class _Interpreter:
    """Walks a checked tree; every value is a pandas Series over the table's rows or
    a Python constant. Series operators are pandas' own arithmetic, never code."""

    def __init__(self, table: pd.DataFrame, names: dict[str, str]):
        self.table, self.names = table, names

    def visit(self, node):
        return getattr(self, f"_{type(node).__name__}")(node)

    def _Constant(self, node):
        return node.value

    def _List(self, node):
        return [self.visit(e) for e in node.elts]

    _Tuple = _List

    def _Name(self, node):
        column = self.names.get(node.id, node.id)
        if column not in self.table:
            raise UnknownColumn(column)
        values = self.table[column]
        if isinstance(values, pd.DataFrame):
            raise InputError(f"column '{column}' appears more than once")
        return values

    def _UnaryOp(self, node):
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not) or (isinstance(node.op, ast.Invert) and _is_bool(value)):
            value = _condition(value)
            return (not value) if isinstance(value, bool) else ~value
        try:
            return (operator.invert if isinstance(node.op, ast.Invert) else _UNARY[type(node.op)])(
                value
            )
        except TypeError as exc:
            raise InputError(f"cannot apply {type(node.op).__name__} here ({exc})") from None

    def _BinOp(self, node):
        left, right = self.visit(node.left), self.visit(node.right)
        try:
            return _ARITHMETIC[type(node.op)](left, right)
        except (TypeError, ValueError) as exc:
            raise InputError(f"cannot do arithmetic on these values ({exc})") from None

    def _BoolOp(self, node):
        values = [_condition(self.visit(v)) for v in node.values]
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        result = values[0]
        for value in values[1:]:
            result = combine(result, value)
        return result

    def _Compare(self, node):
        result, left = None, self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            step = _compare(op, left, right)
            result = step if result is None else result & step
            left = right
        return result


def _compare(op, left, right):
    membership = isinstance(right, list)
    if isinstance(op, (ast.In, ast.NotIn)) or (membership and isinstance(op, (ast.Eq, ast.NotEq))):
        if not isinstance(left, pd.Series):
            raise InputError("'in' needs a column on its left")
        if not membership:
            right = [right]
        found = left.isin(right)
        return ~found if isinstance(op, (ast.NotIn, ast.NotEq)) else found
    if membership:
        raise InputError("a list can only follow in, not in, == or !=")
    try:
        return _COMPARE[type(op)](left, right)
    except TypeError as exc:
        raise InputError(f"cannot compare these values ({exc})") from None


def _is_bool(value) -> bool:
    return isinstance(value, bool) or (
        isinstance(value, pd.Series) and pd.api.types.is_bool_dtype(value.dtype)
    )


def _condition(value):
    if not _is_bool(value):
        raise InputError(
            "and/or/not need true/false conditions on both sides (put comparisons in brackets)"
        )
    return value

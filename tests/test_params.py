"""raregal.core.params: declarative constraints, checked in one place."""

import math

import numpy as np
import pytest

from raregal.cli import flag_name
from raregal.core.errors import InputError
from raregal.core.params import (
    Each,
    Integral,
    Interval,
    Options,
    ParameterError,
    Real,
    Satisfies,
    validate,
)
from raregal.method.search import RareClassFinder


@pytest.mark.parametrize(
    "constraint, good, bad",
    [
        (Interval(Integral, 2, None), [2, 3, np.int64(10**9)], [1, 0, -4, 2.0, True, "2", None]),
        (
            Interval(Real, 0, 1),
            [0, 0.5, 1, np.float32(0.25)],
            [-1e-9, 1.5, math.nan, math.inf, -math.inf, np.nan, "0.5", False],
        ),
        (Interval(Real, 0, 1, closed="right"), [1e-12, 1], [0, 1.0001]),
        (Interval(Real, 0, 1, closed="neither"), [0.5], [0, 1]),
        (Interval(Real, 0, None, closed="neither"), [1e-30, 1e30], [0, math.inf, math.nan]),
        (Options("auto", None), ["auto", None], ["Auto", "", 0, False]),
        (Options(True, False), [True, False], [1, 0, "yes", None]),
        (Each(Interval(Integral, 2, None)), [[2], (5, 6)], [[], [1], [2, 1], 2, "22"]),
        (Satisfies(lambda s: s.startswith("cuda"), "cuda"), ["cuda:1"], ["cpu", 3]),
    ],
)
def test_constraints_accept_and_refuse(constraint, good, bad):
    assert all(constraint.accepts(v) for v in good), good
    assert not any(constraint.accepts(v) for v in bad), bad


def test_validate_names_the_first_bad_parameter_and_both_values():
    constraints = {"a": [Interval(Integral, 1, None)], "b": [Interval(Real, 0, 1), Options("auto")]}
    validate({"a": 1, "b": "auto"}, constraints)
    with pytest.raises(ParameterError) as error:
        validate({"a": 1, "b": math.nan}, constraints, "thing")
    assert isinstance(error.value, InputError)  # the command line's one-line contract
    assert (error.value.parameter, error.value.owner) == ("b", "thing")
    assert error.value.reason == "must be a number in [0, 1] or 'auto', not nan"
    assert str(error.value) == "b (thing): must be a number in [0, 1] or 'auto', not nan"


def test_finder_parameters_are_all_constrained_and_checked_before_fitting():
    finder = RareClassFinder()
    assert set(finder._parameter_constraints) == set(finder.get_params())
    finder._validate_params()  # the paper's defaults pass
    for name, value in [
        ("min_cluster_size", 1),
        ("n_neighbors", 1),
        ("min_dist", math.nan),
        ("min_samples", "auto"),
        ("seed", -1),
        ("backend", "tpu"),
    ]:
        with pytest.raises(ParameterError, match=f"^{name} .RareClassFinder.: must be"):
            # an array that would fail later, differently: the parameters go first
            RareClassFinder(**{name: value}).fit(np.zeros((3, 2)))


def test_seed_leaves_room_for_the_reruns():
    """The reruns use seed+1 to seed+K (raregal.method.credibility.rerun_seeds); numpy takes
    seeds up to 2**32 - 1 (issue 39: --seed 4294967294 failed after the layout)."""
    top = 2**32 - 1
    RareClassFinder(seed=top - 3)._validate_params()  # "auto": up to 3 reruns
    RareClassFinder(seed=top, stability_seeds=0)._validate_params()
    RareClassFinder(seed=top - 100, stability_seeds=100)._validate_params()
    for finder in (
        RareClassFinder(seed=top - 2),
        RareClassFinder(seed=top - 1, stability_seeds=2),
        RareClassFinder(seed=top - 99, stability_seeds=100),
    ):
        with pytest.raises(ParameterError) as error:
            finder._validate_params()
        assert error.value.parameter == "seed"


def test_flag_names_follow_the_command_line():
    assert flag_name("search", "min_cluster_size") == "--min-cluster-size"
    assert flag_name("search", "pca_components") == "--pca"
    assert flag_name("embed", "input_size") == "--size"
    assert flag_name("synthetic", "n") == "--rows"
    assert flag_name("inject", "n") == "--synthetic"

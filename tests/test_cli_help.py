"""Every command's --help, read as a user reads it (issue 17): every option explained,
the same words for the shared options, defaults as typed and as the functions use."""

import re

import pytest

from raregal.cli import COMMANDS, build_parser, main
from raregal.core import defaults


def _commands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


@pytest.fixture(autouse=True)
def _terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps to the terminal's width


def _help(capsys, *command) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_one_add_function_per_command():
    assert len(COMMANDS) == len(_commands()) == 12


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_is_explained_and_lines_fit(command, capsys):
    text = _help(capsys, command)
    parser = _commands()[command]
    for action in parser._actions:
        assert action.help, f"{command} {action.option_strings or action.dest}: no help"
    assert "--quiet" in text and "no progress on stderr" in text
    assert max(len(line) for line in text.splitlines()) <= 86  # examples may run longer
    prose = [line for line in text.splitlines() if not line.startswith("  raregal")]
    assert max(len(line) for line in prose) <= 80
    assert not re.search(r"default:? [\[(]", " ".join(text.split())), (
        "a default printed as a Python list or tuple"
    )
    # metavars are N, X, F, PX, NAME…, never argparse's upper-cased dest
    assert not re.search(r"--[a-z-]+ [A-Z]+_[A-Z]+", text)


def test_search_help_says_what_the_code_does(capsys):
    text = " ".join(_help(capsys, "search").split())
    assert "separate 2-D UMAP" not in text
    assert "2-D map is laid out on the 5-D embedding's own neighbour graph" in text
    assert "raregal embed" in text and "raregal report DIR" in text
    from raregal.method.cluster import scaled_min_samples

    assert (
        f"({scaled_min_samples(5_000)} at 5k, {scaled_min_samples(50_000)} at 50k, "
        f"{defaults.HDBSCAN_MIN_SAMPLES} at 632k;" in text
    )
    assert "HDBSCAN min_samples (default scaled: see below; 300: the paper's)" in text
    assert f"UMAP neighbours (default {defaults.UMAP_N_NEIGHBORS})" in text


def test_defaults_shown_are_the_functions(capsys):
    train = " ".join(_help(capsys, "train").split())
    assert f"(default {defaults.TRAIN_EPOCHS})" in train
    assert f"(default {defaults.TRAIN_LEARNING_RATE:g})" in train
    inject = " ".join(_help(capsys, "inject").split())
    assert "(default 10 20 50 100 300 1000)" in inject
    assert "(default 0.1 0.3 1)" in inject
    embed = " ".join(_help(capsys, "embed").split())
    assert "auto, cpu, mps, cuda or cuda:N" in embed
    args = build_parser().parse_args(["search", "reps.parquet", "--out", "run"])
    assert args.n_neighbors is None and args.min_samples is None  # the function decides

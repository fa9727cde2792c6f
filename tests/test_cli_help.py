"""What `--help` shows: every command and option described, defaults said once and truly,
choices listed, `train --help` grouped with its common options first."""

import argparse
import dataclasses
import re

import pytest

from newsclf.cli import build_parser
from newsclf.cli.common import COMMON, FLAG_GROUPS
from newsclf.config import TrainConfig

NEWCOMER_FLAGS = ("--data", "--text-column", "--label-column", "--name", "--epochs", "--model")


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def help_of(command: str) -> str:
    return command_parsers()[command].format_help()


def test_every_config_field_is_in_one_group():
    grouped = [name for names in FLAG_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(f.name for f in dataclasses.fields(TrainConfig))


def test_train_help_starts_with_the_common_options():
    lines = help_of("train").splitlines()
    first = "\n".join(lines[:40])
    assert f"{COMMON}:" in first
    for flag in NEWCOMER_FLAGS:
        assert re.search(rf"^  {flag} ", first, re.M), f"{flag} not in the first 40 lines"


@pytest.mark.parametrize("command", sorted(command_parsers()))
def test_every_command_and_option_is_described(command):
    p = command_parsers()[command]
    assert p.description, f"newsclf {command} has no description"
    for action in p._actions:
        if action.help == argparse.SUPPRESS:
            continue
        name = action.option_strings or [action.metavar or action.dest]
        assert action.help, f"newsclf {command} {name[0]} has no help"


@pytest.mark.parametrize("command", sorted(command_parsers()))
def test_defaults_are_said_once(command):
    text = help_of(command)
    assert "(default: None)" not in text
    p = command_parsers()[command]
    for action in p._actions:
        if action.help and action.help != argparse.SUPPRESS:
            said = action.help.lower().count("default")
            assert said <= 1, f"newsclf {command} {action.option_strings}: default said {said}x"


def test_a_run_time_default_says_what_it_means():
    """A field whose default is decided at run time ('auto', or no value) says what happens."""
    for f in dataclasses.fields(TrainConfig):
        text = f.metadata["help"]
        if f.default is None:
            assert "Default:" in text, f"--{f.name}: no 'Default:' for an unset value"
        if f.default == "auto":
            assert "auto:" in text, f"--{f.name}: 'auto' is not explained"


def test_choices_are_shown():
    text = help_of("train")
    for shown in ("--task {auto,single-label,multi-label}", "--precision {auto,fp32,bf16,fp16}",
                  "--metric {auto,accuracy,macro_f1,", "--long-texts {auto,truncate,"):  # fmt: skip
        assert shown in text


def test_tune_help_shows_the_search_and_points_at_train():
    text = help_of("tune")
    assert "--trials" in text and "--space" in text
    assert "every `newsclf train`" in " ".join(text.split())
    assert "--learning-rate" not in text  # taken, but listed by `newsclf train --help`


@pytest.mark.parametrize("command", ["train", "tune"])
def test_the_examples_parse(command):
    examples = command_parsers()[command].examples
    assert examples
    for line in examples:
        build_parser().parse_args(line.split()[1:])

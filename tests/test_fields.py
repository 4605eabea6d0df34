"""gmgan_lib.fields: declarations say what a field allows; one validator, one error format."""
from __future__ import annotations

import dataclasses
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gmgan_lib.fields import Allowed, check, declared, option, refuse
from gmgan_lib.models import DCGANConfig, GMGANConfig
from gmgan_lib.training import TrainConfig

FORMAT = re.compile(r"^(?P<name>\w+) must be (?P<what>.+?)[,;] got (?P<value>.+)$")


@pytest.mark.parametrize("rule, good, bad", [
    (Allowed(int, low=1, high=4096), [1, 4096], [0, 4097, True, 2.0, "3", None]),
    (Allowed(int, low=1, high=15, odd=True, length=3), [(1, 3, 15), [3, 3, 3]],
     [(2, 3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 17), 3, "333", (3, 3, True)]),
    (Allowed(int, low=4, high=64, multiple_of=4), [4, 8, 64], [6, 0, 68]),
    (Allowed(float, low=0.55, high=1.0), [0.55, 1, 1.0], [0.5, math.nan, math.inf, True, "x"]),
    (Allowed(float, low=0.0, low_open=True, high=1.0, high_open=True), [0.5], [0.0, 1.0]),
    (Allowed(str, ("max", "mean")), ["max"], ["median", 1, None]),
    (Allowed(bool), [True, False], [0, 1, "true", None]),
    (Allowed(int, low=1, optional=True), [None, 7], [0]),
    (Allowed(int, low=1, length=0), [(1,), (1, 2, 3)], [(), [], (0,)]),
])
def test_a_rule_admits_exactly_what_it_says(rule, good, bad):
    assert all(rule.admits(v) for v in good), good
    assert not any(rule.admits(v) for v in bad), [v for v in bad if rule.admits(v)]


@pytest.mark.parametrize("rule, value, message", [
    (Allowed(int, low=1, high=65536), 0, "x must be a positive integer, got 0"),
    (Allowed(int, low=1, high=65536), 10**20, "x must be at most 65,536, got 100000000000000000000"),
    (Allowed(int, low=1, high=15, odd=True, length=3, note="(kOr, kH, kW)"), (4, 5, 5),
     "x must be 3 odd integers in [1, 15] (kOr, kH, kW), got [4, 5, 5]"),
    (Allowed(float, low=0.0, low_open=True, high=1.0), 0.0, "x must be in (0.0, 1.0], got 0.0"),
    (Allowed(str, ("bce", "hinge")), "wgan", "x must be one of bce, hinge; got 'wgan'"),
    (Allowed(bool), "no", "x must be True or False, got 'no'"),
])
def test_the_one_error_format_names_the_field_what_is_allowed_and_the_value(rule, value, message):
    assert str(refuse("x", rule.describe(value), value)) == message


CONFIGS = [GMGANConfig, DCGANConfig, TrainConfig]


@pytest.mark.parametrize("config_type", CONFIGS)
def test_every_field_declares_its_help_and_what_it_allows_and_its_default_is_allowed(config_type):
    fields = declared(config_type)
    skipped = {f.name for f in dataclasses.fields(config_type)} - {f.name for f in fields}
    assert skipped <= {"model_config"}, skipped      # the architecture is a configuration itself
    for f in fields:
        assert f.metadata["help"].strip(), f.name
        assert f.metadata["allowed"].admits(f.default), f.name


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_bad_value_of_any_field_is_one_line_in_the_one_format(data):
    """Replace one field of a default configuration by an arbitrary value: either the value is
    allowed, or the error names that field and the value, in the one format."""
    config_type = data.draw(st.sampled_from([GMGANConfig, DCGANConfig]))
    f = data.draw(st.sampled_from(declared(config_type)))
    value = data.draw(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                                st.floats(allow_nan=True), st.text(max_size=5),
                                st.lists(st.integers(-3, 20), max_size=4),
                                st.sampled_from(list(f.metadata["allowed"].choices) or [0])))
    try:
        config_type(**{f.name: value})
    except ValueError as err:
        text = str(err)
        assert "\n" not in text
        match = FORMAT.match(text)
        assert match, text
        if not f.metadata["allowed"].admits(value):          # refused by its own declaration
            assert match["name"] == f.name, text
    else:
        assert f.metadata["allowed"].admits(value)


def test_check_refuses_the_first_bad_field_of_a_dataclass():
    @dataclasses.dataclass
    class Small:
        n: int = option(3, "a count", Allowed(int, low=1, high=9))
        how: str = option("a", "a choice", Allowed(str, ("a", "b")))

    check(Small())
    with pytest.raises(ValueError, match=r"^n must be a positive integer, got 0$"):
        check(Small(n=0, how="c"))

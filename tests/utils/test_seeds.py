"""parse_seeds: a strict grammar, and a count limit checked before any list is built."""
import pytest

from gankit.errors import GankitError
from gankit.utils.seeds import MAX_SEED, parse_seeds


def test_ranges_lists_and_ints():
    assert parse_seeds("0-3, 7,9-9") == [0, 1, 2, 3, 7, 9]
    assert parse_seeds(5) == [5] and parse_seeds([2, 1]) == [2, 1]
    assert parse_seeds(str(MAX_SEED)) == [MAX_SEED]


@pytest.mark.parametrize("text, words", [
    ("0-5_0_000_000", "bad seed list"), ("+3", "bad seed list"), ("1e3", "bad seed list"),
    ("٣", "bad seed list"),  # a non-ASCII digit, which int() would accept
    ("-3", ">= 0"), ("5-2", "low-high"), (",", "empty seed list"),
    (str(MAX_SEED + 1), "too large"),
])
def test_refused(text, words):
    with pytest.raises(GankitError, match=words):
        parse_seeds(text)


def test_limit_is_checked_on_the_ranges_not_the_list():
    # (building this list first would take terabytes)
    with pytest.raises(GankitError, match=r"at most 64 seeds at a time \(1,000,000,000,001"):
        parse_seeds("0-1000000000000", limit=64)
    assert len(parse_seeds("0-63", limit=64)) == 64

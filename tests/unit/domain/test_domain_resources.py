"""Memory and CPU limits as users write them and as runtimes need them."""

from __future__ import annotations

import pytest

from xae.domain.resources import MIN_MEMORY, format_memory, parse_memory, validate_cpus
from xae.errors import InvalidInput

MiB = 1024**2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256M", 256 * MiB),
        ("256m", 256 * MiB),
        ("1G", 1024 * MiB),
        ("1g", 1024 * MiB),
        ("0.5G", 512 * MiB),
        ("16384K", 16 * MiB),
        ("512MB", 512 * MiB),
        ("512MiB", 512 * MiB),
        ("2GiB", 2048 * MiB),
        (" 64M ", 64 * MiB),
        ("64 M", 64 * MiB),
        (str(32 * MiB), 32 * MiB),
    ],
)
def test_memory_is_parsed_into_bytes(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["16M", "64M", "256M", "512M", "1G", "3G", "20000K"])
def test_formatted_memory_parses_back_to_the_same_bytes(text: str) -> None:
    value = parse_memory(text)
    assert parse_memory(format_memory(value)) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (512 * MiB, "512M"),
        (1024 * MiB, "1G"),
        (1536 * MiB, "1536M"),
        (1025 * 1024, "1025K"),
        (MIN_MEMORY + 1, str(MIN_MEMORY + 1)),
    ],
)
def test_memory_is_formatted_in_the_largest_exact_unit(value: int, expected: str) -> None:
    assert format_memory(value) == expected


@pytest.mark.parametrize(
    "text", ["", "lots", "M", "-256M", "256T", "256 megabytes", "1.2.3G", "0x10M"]
)
def test_memory_that_is_not_a_size_is_rejected_with_an_example(text: str) -> None:
    with pytest.raises(InvalidInput, match="write it like 256M or 1G"):
        parse_memory(text)


@pytest.mark.parametrize("text", ["15M", "1M", "0", "1024K", "0.01G"])
def test_memory_below_16m_is_rejected_naming_the_minimum(text: str) -> None:
    with pytest.raises(InvalidInput, match="below the minimum of 16M"):
        parse_memory(text)


def test_exactly_the_minimum_memory_is_accepted() -> None:
    assert parse_memory("16M") == MIN_MEMORY


@pytest.mark.parametrize("cpus", [0.01, 0.5, 1, 2.5, 64])
def test_cpus_between_a_hundredth_and_64_are_accepted(cpus: float) -> None:
    assert validate_cpus(cpus) == cpus


@pytest.mark.parametrize("cpus", [0, 0.001, -1, 64.5, 1000])
def test_cpus_outside_the_range_are_rejected_saying_the_range(cpus: float) -> None:
    with pytest.raises(InvalidInput, match="between 0.01 and 64"):
        validate_cpus(cpus)

"""Resource limits as users write them (`256M`, `0.5`) and as runtimes need them (bytes)."""

from __future__ import annotations

import re

from xae.errors import InvalidInput

# Digits are bounded so that no size a user writes overflows a float or a database column.
_MEMORY = re.compile(r"^(\d{1,30}(?:\.\d{1,9})?)\s*([KMG]?)(?:i?B)?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
MIN_MEMORY = 16 * 1024**2
MAX_MEMORY = 1024**5
"""No instance anywhere gets a petabyte: the ceiling of every ceiling (the platform's own,
from the machine and the operator, is far lower; see `xae.control.limits`)."""


def parse_memory(text: str, maximum: int = MAX_MEMORY, hint: str = "") -> int:
    """`text` in bytes, refused below 16M and above `maximum` (`hint` says what to do then)."""
    match = _MEMORY.match(text.strip())
    if match is None:
        raise InvalidInput(f"memory {text!r} is not valid: write it like 256M or 1G")
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value < MIN_MEMORY:
        raise InvalidInput(f"memory {text!r} is below the minimum of 16M")
    if value > maximum:
        raise InvalidInput(
            f"memory {text.strip()[:40]!r} is more than the maximum of {format_memory(maximum)} "
            f"per instance{hint}"
        )
    return value


def format_memory(value: int) -> str:
    for unit in ("G", "M", "K"):
        size = _UNITS[unit]
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def validate_cpus(value: float, maximum: float = 64, hint: str = "") -> float:
    if not 0.01 <= value <= 64:
        raise InvalidInput(f"cpus {value} is not valid: use a number between 0.01 and 64")
    if value > maximum:
        raise InvalidInput(
            f"cpus {value:g} is more than the maximum of {maximum:g} per instance{hint}"
        )
    return value

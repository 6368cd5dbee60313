"""Resource limits as users write them (`256M`, `0.5`) and as runtimes need them (bytes)."""

from __future__ import annotations

import re

from xae.errors import InvalidInput

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
MIN_MEMORY = 16 * 1024**2


def parse_memory(text: str) -> int:
    match = _MEMORY.match(text.strip())
    if match is None:
        raise InvalidInput(f"memory {text!r} is not valid: write it like 256M or 1G")
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value < MIN_MEMORY:
        raise InvalidInput(f"memory {text!r} is below the minimum of 16M")
    return value


def format_memory(value: int) -> str:
    for unit in ("G", "M", "K"):
        size = _UNITS[unit]
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def validate_cpus(value: float) -> float:
    if not 0.01 <= value <= 64:
        raise InvalidInput(f"cpus {value} is not valid: use a number between 0.01 and 64")
    return value

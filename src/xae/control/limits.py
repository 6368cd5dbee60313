"""Per-app ceilings: how much of this machine one app may ask for, and the refusals that say so.

Every ceiling is the smaller of what the machine has and what the operator configured
(`XAE_MAX_*`), so a tenant can never book memory or CPUs that do not exist, run an unbounded
number of instances, or grow the store without bound through config vars. A refusal names the
number asked for and the maximum, so the user knows what to ask for instead.

This module decides; it never changes anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from xae.config import Settings
from xae.domain.resources import format_memory, parse_memory, validate_cpus
from xae.errors import InvalidInput

DEFAULT_MAX_MEMORY = 8 * 1024**3
CONFIG_VALUE_MAX = 32 * 1024


def machine_memory() -> int:
    """This machine's RAM in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def machine_cpus() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Limits:
    memory: int
    """Bytes of memory one instance may get."""
    cpus: float
    """CPUs one instance may get."""
    instances: int
    """Instances of all process types of one app together."""
    config_keys: int
    config_bytes: int
    """Config vars of one app: keys, and UTF-8 bytes of keys and values together."""
    keep_failed_releases: int


def limits_for(settings: Settings) -> Limits:
    ram, cpus = machine_memory(), machine_cpus()
    memory = min(ram, DEFAULT_MAX_MEMORY)
    if settings.max_memory is not None:
        memory = min(ram, parse_memory(settings.max_memory))
    return Limits(
        memory=memory,
        cpus=min(float(cpus), settings.max_cpus or float(cpus)),
        instances=settings.max_instances_per_app,
        config_keys=settings.max_config_keys,
        config_bytes=settings.max_config_bytes,
        keep_failed_releases=settings.keep_failed_releases,
    )


def check_memory(limits: Limits, text: str) -> int:
    """`text` (`512M`) in bytes, if one instance may have that much."""
    hint = (
        f" (this machine has {format_memory(machine_memory())} of RAM): ask for less, or ask "
        "the operator to raise XAE_MAX_MEMORY"
    )
    return parse_memory(text, maximum=limits.memory, hint=hint)


def check_cpus(limits: Limits, cpus: float) -> float:
    hint = ": ask for less, or ask the operator to raise XAE_MAX_CPUS"
    if limits.cpus >= machine_cpus():
        hint = f" (this machine has {machine_cpus()} CPUs)" + hint
    return validate_cpus(cpus, maximum=limits.cpus, hint=hint)


def check_instances(limits: Limits, app: str, quantities: dict[str, int]) -> None:
    """Refuse a formation whose instances, all process types together, exceed the maximum."""
    total = sum(quantities.values())
    if total > limits.instances:
        counts = ", ".join(f"{t}={q}" for t, q in sorted(quantities.items()) if q)
        raise InvalidInput(
            f"{app} would run {total} instances ({counts}); the maximum is {limits.instances} "
            "per app, all process types together: scale down another type first, or ask the "
            "operator to raise XAE_MAX_INSTANCES_PER_APP",
            details={"requested": total, "maximum": limits.instances},
        )


def check_config_value(key: str, value: str) -> None:
    """Refuse a value no process environment can hold (a NUL ends a C string) or too long."""
    if "\x00" in value:
        raise InvalidInput(
            f"the value of {key} contains a NUL character (\\0), which no process environment "
            "can hold: remove it (encode binary data, e.g. as base64)"
        )
    try:
        value.encode()
    except UnicodeEncodeError as e:
        raise InvalidInput(
            f"the value of {key} is not valid Unicode (it has a lone surrogate): send UTF-8 text"
        ) from e
    if len(value) > CONFIG_VALUE_MAX:
        raise InvalidInput(f"the value of {key} is longer than 32 KiB")


def config_size(config: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode(errors="surrogatepass")) for k, v in config.items())


def check_config(limits: Limits, app: str, config: dict[str, str]) -> None:
    """Refuse a whole config (after the change) with too many keys or bytes."""
    if len(config) > limits.config_keys:
        raise InvalidInput(
            f"{app} would have {len(config)} config vars; the maximum is {limits.config_keys} "
            "per app: unset the ones it no longer needs (`xae config:unset`)",
            details={"requested": len(config), "maximum": limits.config_keys},
        )
    size = config_size(config)
    if size > limits.config_bytes:
        raise InvalidInput(
            f"{app}'s config vars would be {size} bytes (keys and values together); the "
            f"maximum is {limits.config_bytes} per app: keep large data in files or a backing "
            "service, not in config vars",
            details={"requested": size, "maximum": limits.config_bytes},
        )

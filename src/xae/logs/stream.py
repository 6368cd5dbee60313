"""Merging the output of all of an app's instances into one time-ordered stream.

Without `follow`, the recent lines of every instance are merged by timestamp. With `follow`,
one reader thread per instance feeds a queue, so a quiet instance never holds back a chatty
one; closing the returned iterator stops the readers.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from xae.domain.streams import EOS, EndOfStream
from xae.errors import XaeError
from xae.runtime.base import Backend, Instance


def _label(instance: Instance) -> str:
    return f"{instance.process}.{instance.id[:6]}"


def _format(instance: Instance, raw: str) -> tuple[str, str]:
    stamp, _, text = raw.partition(" ")
    return stamp, f"{stamp[:23]}Z {instance.app}[{_label(instance)}]: {text}"


def _unreadable(instance: Instance, error: XaeError) -> str:
    return f"xae: the output of {instance.app}[{_label(instance)}] cannot be read: {error.message}"


def _close(stream: Iterator[str]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def app_logs(
    runtime: Backend,
    app: str,
    *,
    process: str | None = None,
    tail: int = 100,
    follow: bool = False,
) -> Iterator[str]:
    instances = [i for i in runtime.list_instances(app) if process is None or i.process == process]
    if not follow:
        lines: list[tuple[str, str]] = []
        for instance in instances:
            # One instance whose output cannot be read (it is being removed, its node is gone)
            # must not cost the user the others'.
            try:
                lines.extend(_format(instance, raw) for raw in runtime.logs(instance, tail=tail))
            except XaeError as e:
                lines.append(("~", _unreadable(instance, e)))
        lines.sort()
        yield from (line for _, line in lines[-tail:])
        return

    out: queue.Queue[str | EndOfStream] = queue.Queue(maxsize=10_000)
    streams: list[tuple[Instance, Iterator[str]]] = []
    for instance in instances:
        try:
            streams.append((instance, runtime.logs(instance, tail=tail, follow=True)))
        except XaeError as e:
            yield _unreadable(instance, e)

    def pump(instance: Instance, stream: Iterator[str]) -> None:
        try:
            for raw in stream:
                out.put(_format(instance, raw)[1])
        except XaeError as e:
            out.put(_unreadable(instance, e))
        finally:
            out.put(EOS)

    for instance, stream in streams:
        threading.Thread(target=pump, args=(instance, stream), daemon=True).start()
    remaining = len(streams)
    try:
        while remaining:
            try:
                item = out.get(timeout=15)
            except queue.Empty:
                yield ""  # a keep-alive; lets the server notice a client that went away
                continue
            if item is EOS:
                remaining -= 1
            else:
                yield item
    finally:
        for _, stream in streams:
            _close(stream)

"""`decoding.warm_up`: every kind xae reads decodes afterwards, from many threads at once."""

from __future__ import annotations

import json
import threading

from lightkube.core import decoders

from xae.runtime.kubernetes import decoding


def test_after_warm_up_every_kind_decodes_from_many_threads_at_once() -> None:
    decoding.warm_up()
    decoding.warm_up()  # once per process: a second call is free
    body = json.dumps({"metadata": {"resourceVersion": "7", "continue": "next"}, "items": []})
    errors: list[BaseException] = []
    names: list[str] = []

    def decode(kind: type) -> None:
        try:
            for _ in range(50):
                cont, version, items = decoders.decode_list(body.encode(), kind)
                names.append(f"{cont}@{version}:{len(items)}")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=decode, args=(k,)) for k in decoding.KINDS * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert names == ["next@7:0"] * 50 * len(threads)

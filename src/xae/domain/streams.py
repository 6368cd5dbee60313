"""The end-of-stream marker for queues that carry a stream from a worker thread to a reader.

A bare `object()` sentinel makes the queue's type `Queue[object]`, so the reader must cast
what it gets, and nothing says what the marker means. A one-member enum (as kopf's `EOS`) is
a type of its own: the queue is `Queue[Item | EndOfStream]`, and `item is EOS` narrows the
rest to `Item`. Pure: no I/O.
"""

from __future__ import annotations

from enum import Enum
from typing import Final


class EndOfStream(Enum):
    token = 0


EOS: Final = EndOfStream.token
"""Put on a queue by a producer when it has nothing more to send."""

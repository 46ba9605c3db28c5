"""A background thread that produces a stream's next elements into a bounded queue while the consumer works."""
from __future__ import annotations

import queue
import threading

_ITEM, _END, _ERROR = "item", "end", "error"
_POLL_S = 0.05                  # how often a blocked producer looks whether the consumer has gone


def prefetched(make_iterator, buffer_size, close_source=True):
    """The elements of ``make_iterator()``, made ahead by a daemon thread holding at most ``buffer_size``.

    An exception raised in the thread is raised here, at the element where it happened. When the consumer
    stops early (``close()``, ``break``, an error) the thread is told to stop and joined before this returns;
    ``close_source`` also closes the source iterator (False for a generator that a later pass continues)."""
    items = queue.Queue(maxsize=buffer_size)
    stop = threading.Event()

    def put(entry):
        while not stop.is_set():
            try:
                items.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        iterator = None
        try:
            iterator = iter(make_iterator())
            for element in iterator:
                if not put((_ITEM, element)):
                    break
            else:
                put((_END, None))
        except BaseException as error:                  # handed to the consumer, raised there
            put((_ERROR, error))
        finally:
            if stop.is_set() and close_source and hasattr(iterator, "close"):
                iterator.close()

    thread = threading.Thread(target=produce, name="scratchnn-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        stop.set()
        thread.join()

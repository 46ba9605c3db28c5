"""Dynamic batching: requests that arrive together are predicted in one call of ``model.predict``.

A request's samples wait in a queue. A batch is closed when it holds ``max_batch_size`` samples or when
``max_delay`` seconds have passed since its first request came, whichever is first, and is predicted in a
worker thread; while it runs, the next batch gathers. One forward pass over 32 samples costs far less than
32 passes over one (the matrix products use the whole width of the machine), so under load a batch
amortises the per-call overhead and the latency of each request grows by at most ``max_delay``.
``model.predict`` records nothing and is safe from several threads, so ``workers > 1`` runs batches side by
side.
"""
from __future__ import annotations

import asyncio
import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from ..validation import check_number, check_positive_int


class Batcher:
    """Gathers samples from concurrent requests into batches for ``predict`` (an (N, ...) -> (N, ...) function).

    Use inside a running event loop: ``await start()``, then ``await batcher.predict(x)`` from any number
    of requests, and ``await stop()`` at the end.
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], max_batch_size: int = 64,
                 max_delay: float = 0.002, workers: int = 1):
        self.predict_batch = predict
        self.max_batch_size = check_positive_int("max_batch_size", max_batch_size, "Batcher")
        self.max_delay = check_number("max_delay", max_delay, "Batcher", low=0, high=1)
        self.workers = check_positive_int("workers", workers, "Batcher")
        self.stats = {"requests": 0, "samples": 0, "batches": 0, "largest_batch": 0}
        self._stats_lock = threading.Lock()
        self._pending: collections.deque = collections.deque()   # (samples, future) in arrival order
        self._queued = 0                                          # samples waiting in _pending
        self._arrived: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="scratchnn-predict")
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for _, future in self._pending:
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's outputs for the samples x (N, ...), predicted in a batch with other requests."""
        if not self._tasks:
            raise RuntimeError("Batcher.predict needs a started batcher: await batcher.start() first")
        future = asyncio.get_running_loop().create_future()
        self._pending.append((x, future))
        self._queued += len(x)
        self._arrived.set()
        return await future

    # ---- the loop that forms batches -----------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = loop.time() + self.max_delay                # the first request waits at most this long
            while self._queued < self.max_batch_size and (left := deadline - loop.time()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except asyncio.TimeoutError:
                    break
            batch = self._take()
            if batch:
                await self._predict(loop, batch)

    def _take(self) -> list:
        """Requests from the front of the queue, up to max_batch_size samples (a larger one goes alone)."""
        batch, count = [], 0
        while self._pending and (not batch or count + len(self._pending[0][0]) <= self.max_batch_size):
            x, future = self._pending.popleft()
            self._queued -= len(x)
            if not future.done():                                 # a client that went away is skipped
                batch.append((x, future))
                count += len(x)
        return batch

    async def _predict(self, loop, batch: list) -> None:
        counts = [len(x) for x, _ in batch]
        try:
            x = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
            outputs = await loop.run_in_executor(self._executor, self.predict_batch, x)
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        with self._stats_lock:
            self.stats["requests"] += len(batch)
            self.stats["samples"] += sum(counts)
            self.stats["batches"] += 1
            self.stats["largest_batch"] = max(self.stats["largest_batch"], sum(counts))
        for (_, future), part in zip(batch, np.split(outputs, np.cumsum(counts)[:-1])):
            if not future.done():
                future.set_result(part)

    def snapshot(self) -> dict:
        """The counts so far: requests, samples, batches, the largest batch, and the mean batch size."""
        with self._stats_lock:
            stats = dict(self.stats)
        stats["mean_batch"] = round(stats["samples"] / stats["batches"], 2) if stats["batches"] else 0.0
        return stats

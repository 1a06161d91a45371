"""Dynamic batching for the server: requests that arrive together share one forward pass.

A worker task takes the first waiting request, then gathers more until the batch holds `max_batch_size` texts or
`wait_ms` have passed, and runs them as one call to TextClassifier.probabilities in a thread (so the event loop
keeps accepting requests). Each request gets back its own rows, formatted by the model's task as
classify_text formats them; the CPU model gives a text the same scores alone or padded in a batch.

The window is skipped when the last batch held a single request and nothing else is waiting: a lone client pays
no wait, while under load the batches fill up.

Nothing a batch does can stop the worker (a failure fails that batch's requests), and a request that finds no
worker running, or is still queued when it stops, gets BatcherStopped rather than waiting forever.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ..inference import TextClassifier


class BatcherStopped(RuntimeError):
    """The worker is not running (not started yet, stopped, or gone): the request cannot be answered."""


@dataclass
class Job:
    texts: list[str]
    top_k: int | None | str
    threshold: float | None
    done: asyncio.Future = field(repr=False)


class Batcher:
    def __init__(self, classifier: TextClassifier, max_batch_size: int = 32, wait_ms: float = 2.0,
                 on_batch: Callable[[int, int], None] | None = None):
        self.classifier = classifier
        self.max_batch_size = max_batch_size
        self.wait_s = wait_ms / 1000
        self.on_batch = on_batch or (lambda texts, requests: None)  # for metrics: texts and requests per pass
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.worker: asyncio.Task | None = None
        self.last_batch_requests = 1
        self.taken: list[Job] = []

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self.run())

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.done()

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        left = self.taken + [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        for job in left:  # nobody will answer these any more: tell their requests
            if not job.done.done():
                job.done.set_exception(BatcherStopped("the server stopped before answering this request"))

    async def classify(self, texts: list[str], top_k: int | None | str, threshold: float | None = None) -> list:
        """classify_text's results for checked texts (at least one), computed with whatever else is waiting."""
        if not self.running:
            raise BatcherStopped("the batching worker is not running")
        job = Job(texts, top_k, threshold, asyncio.get_running_loop().create_future())
        await self.queue.put(job)
        return await job.done

    async def gather(self) -> list[Job]:
        jobs = self.taken = [await self.queue.get()]  # the batch being gathered or run, for stop()
        size = len(jobs[0].texts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while size < self.max_batch_size:
            if not self.queue.empty():
                job = self.queue.get_nowait()
            elif self.last_batch_requests == 1 and len(jobs) == 1:
                break  # no sign of load: do not make a lone client wait
            else:
                try:
                    job = await asyncio.wait_for(self.queue.get(), deadline - loop.time())
                except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11 on
                    break
            jobs.append(job)
            size += len(job.texts)
        self.last_batch_requests = len(jobs)
        return jobs

    async def run(self) -> None:
        while True:
            jobs = await self.gather()
            try:
                await self.run_batch(jobs)
            except Exception as error:  # a failed pass fails its own requests, never the worker
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(error)

    async def run_batch(self, jobs: list[Job]) -> None:
        texts = [text for job in jobs for text in job.texts]
        probs = await asyncio.to_thread(self.classifier.probabilities, texts, self.max_batch_size)
        self.on_batch(len(texts), len(jobs))
        start = 0
        for job in jobs:
            rows = probs[start : start + len(job.texts)]
            start += len(job.texts)
            if not job.done.done():  # a client that went away has its future cancelled
                job.done.set_result(self.classifier.task.format_results(rows, job.top_k, job.threshold))

"""Chunks of a large file parsed on every core, in order (docs/data.md, "The reader").

pyarrow's CSV reader lets go of the interpreter while it parses, so its chunks run on threads.
numpy.loadtxt holds it, so its chunks run in forked processes that read their own byte span of the
file and send back the parsed rows. Either way a few chunks are in flight at once, results come
back in file order, and a chunk's DataError (or MemoryError) is raised here as if it had been
parsed in this process. Workers ignore Ctrl-C and SIGTERM (the parent decides, and stops them by
finishing their chunk and shutting the pool) and die with the parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import deque

from nnctl import signals

# multiprocessing and concurrent.futures are imported where a pool is made: the console script
# asks address_space_capped() before any command, and every command would pay for them (12 ms)

MIN_BYTES = 8 << 20  # below this a file parses faster in this process than with a pool's start-up
WORKERS_ENV = "NNCTL_PARSE_WORKERS"  # how many workers (default: one per usable core; 1: none)


def workers(size: int) -> int:
    """How many workers parse a file of `size` bytes: one per usable core; 1 for a small file,
    and under a cap on address space (`ulimit -v`), where a worker thread's stack and malloc
    arena reserve tens of MB each and glibc aborts a thread it cannot give thread-local memory."""
    if size < MIN_BYTES or address_space_capped():
        return 1
    told = os.environ.get(WORKERS_ENV, "")
    if told.isdigit():
        return max(1, int(told))
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def address_space_capped() -> bool:
    """Whether a cap on address space (`ulimit -v`, RLIMIT_AS) is set: then no parse starts
    threads, neither a pool's nor pyarrow's own (each reserves tens of MB of address space)."""
    try:
        import resource
    except ImportError:  # not Unix
        return False
    return resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY


def can_fork() -> bool:
    """Forked workers start at once and share the parent's loaded modules (Linux)."""
    import multiprocessing as mp

    return sys.platform == "linux" and "fork" in mp.get_all_start_methods()


def pool(n: int, processes: bool):
    """An executor of n threads, or of n forked processes that take the worker signal rule."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    if not processes:
        return ThreadPoolExecutor(n, thread_name_prefix="nnctl-parse")
    return ProcessPoolExecutor(n, mp_context=mp.get_context("fork"), initializer=signals.as_worker,
                               initargs=(os.getpid(),))


def ordered(executor, fn, jobs, ahead: int):
    """(job, fn(*job)) for each job, in order, with at most `ahead` jobs submitted and not yet
    taken; on leaving early (an error, a signal, the consumer stopping) the jobs not started are
    cancelled and the running ones finish before the pool shuts."""
    queue: deque = deque()
    try:
        for job in jobs:
            with warnings.catch_warnings():  # Python 3.12+ warns of fork beside threads; a worker
                warnings.simplefilter("ignore", DeprecationWarning)  # runs only the parse
                queue.append((job, executor.submit(fn, *job)))
            if len(queue) >= ahead:
                yield _taken(queue.popleft())
        while queue:
            yield _taken(queue.popleft())
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _taken(item):
    from concurrent.futures.process import BrokenProcessPool

    job, future = item
    try:
        result = future.result()
    except BrokenProcessPool:  # a worker was killed: the kernel's out-of-memory killer, most often
        raise MemoryError("a parsing process was killed") from None
    signals.raise_pending()
    return job, result


def give_back() -> None:
    """Return freed memory to the system: glibc keeps what the parse freed in each thread's
    arena, which would sit beside the table for the whole run (Linux with glibc; elsewhere nothing)."""
    if sys.platform != "linux":
        return
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        pass

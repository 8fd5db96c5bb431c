"""The local backend: a pool of worker processes that survives its workers.

On Linux each worker is forked once the sweep is planned: it starts at once, shares the parent's
loaded modules and data copy-on-write, and sets NumPy's OpenBLAS to one thread. Elsewhere (or
with NNCTL_SWEEP_START=spawn) each is a fresh interpreter, started while the sweep is planned with
BLAS limited to one thread by the environment, and sent the shared data once. Either way it is
then fed one task at a time over its own pipe. The parent waits on
every pipe and every worker's exit at once: a worker that dies (a signal, the kernel's
out-of-memory killer, an exit) turns its task into an `error` row naming the signal or code and
is replaced, and the other workers carry on. Workers ignore Ctrl-C and SIGTERM: the parent
decides, and stops them when the sweep stops; if the parent itself is killed (SIGKILL, the
out-of-memory killer), the kernel kills its workers too (PR_SET_PDEATHSIG, on Linux).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import types
from collections import deque
from multiprocessing.connection import wait

from nnctl import signals
from nnctl.sweep.runner import Shared, Task, run

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}


def _blas_threads_setter():
    """NumPy's OpenBLAS's set_num_threads, or None where it cannot be found."""
    import ctypes

    from nnctl.engine import blas

    for path in blas._candidates():
        try:
            fn = ctypes.CDLL(path).scipy_openblas_set_num_threads64_
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], None
        return fn
    return None


def fork_start() -> bool:
    """Whether workers can be forked: instant, sharing the parent's loaded modules and data
    (copy-on-write), with their BLAS set to one thread in the child. Elsewhere, or with
    NNCTL_SWEEP_START=spawn, they are fresh interpreters with one-thread BLAS from the environment."""
    from nnctl.data.parallel import can_fork

    return (can_fork() and os.environ.get("NNCTL_SWEEP_START", "").lower() != "spawn"
            and _blas_threads_setter() is not None)


def _worker(conn, shared: Shared | None = None, parent: int = 0) -> None:  # pragma: no cover - a child process
    signals.as_worker(parent)
    import tempfile
    from pathlib import Path

    if shared is not None:  # forked: this process's BLAS, on one thread like a spawned worker's
        _blas_threads_setter()(1)
    import nnctl.training.run  # noqa: F401 - a spawned worker loads it while the parent still plans

    plugin_dir = Path(tempfile.mkdtemp(prefix="nnctl-plugins-"))
    if shared is None:
        try:
            shared = conn.recv()  # once per worker: the base config and the data every run shares
        except EOFError:
            return
        if shared is None:
            return
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(run(task, shared, plugin_dir))


def death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the kernel's out-of-memory killer sends it too)" if -code == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with code {code}"


class LocalPool:
    """Workers start at once (their interpreters load while the parent plans the sweep); `share`
    then gives each the sweep's shared part, once."""

    name = "local"

    def __init__(self, workers: int, shared: Shared | None = None):
        """Spawned workers start at once, and `share` sends them the shared part later; forked
        ones (given `shared`) are started with it, which they inherit without a copy."""
        self.size, self.shared = workers, shared
        self.fork = shared is not None
        self.ctx = mp.get_context("fork" if self.fork else "spawn")
        self.idle: list = []
        self.busy: dict = {}  # worker → (conn, task)
        self.queue: deque[Task] = deque()
        self.done: deque[dict] = deque()
        self.procs: list = []
        self.idle = [self._start() for _ in range(workers)]
        self.wakeup = signals.Wakeup()  # after the fork: a worker has no use for it

    def share(self, shared: Shared) -> None:
        self.shared = shared
        for _proc, conn in self.idle:
            try:
                conn.send(shared)
            except OSError:  # it died already: dispatch replaces it
                pass

    def _start(self):
        parent, child = self.ctx.Pipe()
        if self.fork:  # inherits the shared part; sets its own BLAS to one thread
            proc = self.ctx.Process(target=_worker, args=(child, self.shared, os.getpid()), daemon=True)
            proc.start()
        else:
            proc = self.ctx.Process(target=_worker, args=(child, None, os.getpid()), daemon=True)
            self._spawn(proc)
            if self.shared is not None:  # spawned in place of one that died
                parent.send(self.shared)
        child.close()
        self.procs.append(proc)
        return proc, parent

    @staticmethod
    def _spawn(proc) -> None:
        """Start a fresh interpreter with BLAS on one thread (read when it loads NumPy), without
        re-importing the parent's main module (the command line, Typer and Rich: ~0.3 s a worker),
        which the worker does not need."""
        saved = {k: os.environ.get(k) for k in ONE_THREAD}
        main = sys.modules["__main__"]
        os.environ.update(ONE_THREAD)
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            proc.start()
        finally:
            sys.modules["__main__"] = main
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def _dispatch(self) -> None:
        while self.queue and (self.idle or len(self.busy) < self.size):
            proc, conn = self.idle.pop() if self.idle else self._start()
            task = self.queue[0]
            try:
                if not proc.is_alive():
                    raise BrokenPipeError
                conn.send(task)
            except (BrokenPipeError, OSError):  # it died while idle: nothing was lost, start another
                conn.close()
                proc.join(timeout=5)
                continue
            self.queue.popleft()
            self.busy[proc] = (conn, task)

    def next_result(self) -> dict:
        """The next finished run's row (a dead worker's task as an error row)."""
        while not self.done:
            signals.raise_pending()
            self._dispatch()
            if not self.busy:
                raise RuntimeError("no run in progress")
            by_conn = {conn: proc for proc, (conn, _) in self.busy.items()}
            by_sentinel = {proc.sentinel: proc for proc in self.busy}
            for ready in wait([*by_conn, *by_sentinel, self.wakeup.reader]):
                if ready is self.wakeup.reader:  # a signal: its handler raises before the next wait
                    self.wakeup.drain()
                    signals.raise_pending()
                    continue
                proc = by_conn.get(ready) or by_sentinel.get(ready)
                if proc not in self.busy:
                    continue
                conn, task = self.busy[proc]
                if ready is conn:
                    try:
                        row = conn.recv()
                        del self.busy[proc]
                        self.idle.append((proc, conn))
                        self.done.append({**row, "task": task})
                        continue
                    except (EOFError, OSError):
                        pass
                proc.join(timeout=5)
                del self.busy[proc]
                conn.close()
                self.done.append({**task.row("error", death(proc.exitcode)), "task": task, "lost": True})
        return self.done.popleft()

    def close(self, kill: bool = False) -> None:
        self.wakeup.close()
        for _proc, conn in self.idle:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self.procs:
            if kill and proc.is_alive():
                proc.kill()
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()

"""The Ray backend: each run is a Ray task of one CPU.

The driver reads the data once and puts it in Ray's object store (`ray.put`): tasks receive it
by reference, so workers need neither the CSV file nor the config's folder (plugin activations
travel as source text). Without --address, a local Ray with `workers` CPUs is started on the
loopback interface and shut down at the end; with one, an existing cluster is joined.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from nnctl import signals
from nnctl.errors import UsageError
from nnctl.sweep.backends.local import ONE_THREAD
from nnctl.sweep.runner import Shared, Task, run


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--backend ray needs Ray, an optional extra: pip install 'nnctl[ray]'") from None
    return ray


def _ray_task(shared: Shared, task: Task) -> dict:  # pragma: no cover - runs in a Ray worker
    return run(task, shared)


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast, naming the address, when nothing listens there (Ray itself retries for minutes)."""
    if address == "auto":
        return
    target = urlparse(address if "://" in address else f"tcp://{address}")
    if not target.hostname or not target.port:
        raise UsageError(f"--address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((target.hostname, target.port), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


class RayBackend:
    name = "ray"

    def __init__(self, workers: int, shared: Shared, address: str | None = None):
        ray = self.ray = _import_ray()
        self.size = workers  # how many runs tpe keeps in flight
        env = {"env_vars": dict(ONE_THREAD)}  # each task's BLAS on one thread, like a local worker
        if address:
            check_address(address)
            try:
                with signals.foreign(reclaim_after=True):  # ray.init installs Ray's own handlers
                    ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(f"--address {address}: cannot join the Ray cluster ({exc})") from None
        else:
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            with signals.foreign(reclaim_after=True):  # ray.init installs Ray's own handlers
                ray.init(address="local", num_cpus=workers, include_dashboard=False, runtime_env=env,
                         log_to_driver=False, logging_level="ERROR", _node_ip_address="127.0.0.1")
        self.remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        self.shared_ref = ray.put(shared)
        self.futures: dict = {}

    def submit(self, task: Task) -> None:
        self.futures[self.remote.remote(self.shared_ref, task)] = task

    def next_result(self) -> dict:
        with signals.foreign():
            ready, _ = self.ray.wait(list(self.futures), num_returns=1)
        ref = ready[0]
        task = self.futures.pop(ref)
        try:
            with signals.foreign():
                return self.ray.get(ref)
        except Exception as exc:  # a worker that died, or a task Ray could not run
            return task.row("error", f"the Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")

    def pending(self) -> int:
        return len(self.futures)

    def close(self, kill: bool = False) -> None:
        if kill:
            for ref in self.futures:
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
        self.ray.shutdown()  # leaves a joined cluster running; stops the one started here

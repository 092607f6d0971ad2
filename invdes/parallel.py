"""Simulation sweeps on a Dask distributed cluster: address, connection, BLAS pinning, ordered map.

The local joblib path (:func:`invdes.physics.optics.absorption` with ``n_jobs``) stays the default;
this module is used only when a step is given a scheduler:

- ``None`` (or ``""``): no cluster, the joblib path;
- ``"local"`` / ``"local:N"``: start a :class:`distributed.LocalCluster` of N single-threaded
  worker processes on this machine (N defaults to the number of CPUs), for trying it out;
- ``"tcp://host:port"`` (or ``tls://``): connect to a running scheduler (``dask scheduler``,
  dask-jobqueue, Kubernetes ...), giving up after :data:`CONNECT_TIMEOUT_S` seconds with a
  one-line :class:`ClusterError` that names the address.

Every worker is pinned to one BLAS thread (environment variables for the processes we start,
``threadpoolctl`` at run time for all: a worker plugin and again inside each task). Workers only
compute and return; the client writes every file. Each task result carries the worker's
identity (:func:`identity`: invdes version, hash of the simulation code, hash of the optics
config it simulated with); :meth:`Cluster.map` refuses a result whose identity differs from the
client's, so results of different code or settings are never mixed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Environment variable read by ``invdes reproduce`` when ``--scheduler`` is not given.
SCHEDULER_ENV = "INVDES_SCHEDULER"
#: Seconds to wait for a scheduler before giving up (the whole command fails within 10 s).
CONNECT_TIMEOUT_S = 6.0
#: Environment of every worker process this module starts: one BLAS / OpenMP thread.
BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Modules whose source defines a simulation result (part of :func:`identity`).
SIMULATION_MODULES = ("invdes.config", "invdes.physics.materials", "invdes.physics.rcwa",
                      "invdes.physics.optics", "invdes.gan.numpy_generator",
                      "invdes.cluster_tasks")

_REMOTE = re.compile(r"^(tcp|tls)://([^\s/:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$")


class ClusterError(RuntimeError):
    """A cluster problem (unreachable scheduler, mismatched worker, failed task); one line."""


@dataclass(frozen=True)
class SchedulerSpec:
    """A parsed scheduler: ``kind`` "local" (``n_workers`` processes) or "remote" (``address``)."""

    kind: str
    address: str | None = None
    n_workers: int | None = None

    def __str__(self) -> str:
        return f"local:{self.n_workers}" if self.kind == "local" else str(self.address)


def parse_scheduler(text: str | None) -> SchedulerSpec | None:
    """``None``/``""`` -> None (joblib); ``local[:N]`` or ``tcp://host:port`` -> a spec.

    ValueError (one line, naming the text and the accepted forms) for anything else.
    """
    if text is None or not str(text).strip():
        return None
    s = str(text).strip()
    forms = "accepted: local, local:N (N >= 1 worker processes) or tcp://host:port"
    if s == "local" or s.startswith("local:"):
        n_text = s.partition(":")[2] if ":" in s else ""
        if n_text == "":
            return SchedulerSpec("local", n_workers=os.cpu_count() or 1)
        if not n_text.isdigit() or int(n_text) < 1:
            raise ValueError(f"scheduler {s!r}: N must be a whole number >= 1; {forms}")
        return SchedulerSpec("local", n_workers=int(n_text))
    m = _REMOTE.match(s)
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise ValueError(f"scheduler {s!r} is not a scheduler address; {forms}")
    return SchedulerSpec("remote", address=s)


def scheduler_from_env() -> str | None:
    """``$INVDES_SCHEDULER`` (None when unset or empty)."""
    return os.environ.get(SCHEDULER_ENV) or None


# --------------------------------------------------------------------------------------------
# Identity of the code a result was computed with
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """SHA-256 (16 hex digits) of the source of :data:`SIMULATION_MODULES` in this process."""
    import importlib

    h = hashlib.sha256()
    for name in SIMULATION_MODULES:
        module = importlib.import_module(name)
        h.update(name.encode())
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def identity(optics_hash: str) -> dict[str, str]:
    """What a task result must agree on: invdes version, simulation-code hash, optics hash."""
    import invdes

    return {"invdes_version": str(invdes.__version__), "code_hash": code_hash(),
            "optics_hash": str(optics_hash)}


def check_identity(result: Any, expected: dict[str, str]) -> None:
    """ClusterError unless ``result["identity"]`` equals ``expected`` (names the worker and
    every differing entry, worker value against client value)."""
    got = result.get("identity") if isinstance(result, dict) else None
    if got == expected:
        return
    worker = result.get("worker", "?") if isinstance(result, dict) else "?"
    if not isinstance(got, dict):
        raise ClusterError(f"worker {worker} returned a result without an identity: it does not "
                           "run this invdes; install the same invdes on every worker")
    diff = ", ".join(f"{k} {got.get(k)!r} (client {v!r})" for k, v in expected.items()
                     if got.get(k) != v)
    raise ClusterError(f"refusing the result of worker {worker}: its {diff} differ(s) from the "
                       "client's; install the same invdes (and profile) on every worker")


# --------------------------------------------------------------------------------------------
# Worker set-up
# --------------------------------------------------------------------------------------------


_PINNED: list[bool] = []


def pin_blas(*, again: bool = False) -> None:
    """Pin this process to one BLAS / OpenMP thread (environment and threadpoolctl); once per
    process unless ``again``."""
    if _PINNED and not again:
        return
    from threadpoolctl import threadpool_limits

    os.environ.update(BLAS_ENV)
    threadpool_limits(limits=1)  # process-wide, for the libraries loaded so far
    _PINNED.append(True)


def blas_plugin():
    from distributed.diagnostics.plugin import WorkerPlugin

    class PinBLAS(WorkerPlugin):
        """Runs :func:`pin_blas` in every worker process (also those that join later)."""

        name = "invdes-pin-blas"

        def setup(self, worker) -> None:  # noqa: D102
            pin_blas(again=True)

    return PinBLAS()


# --------------------------------------------------------------------------------------------
# The connection
# --------------------------------------------------------------------------------------------


class Cluster:
    """A connected Dask client (and the LocalCluster it started, if any).

    Use :func:`connect` (or :func:`using`) to make one; close it with :meth:`close` or as a
    context manager.
    """

    def __init__(self, client, address: str, local_cluster=None):
        self.client = client
        self.address = address
        self._local = local_cluster

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cluster({self.address!r}, n_workers={self.n_workers})"

    @property
    def n_workers(self) -> int:
        """Workers connected to the scheduler now."""
        return len(self.client.scheduler_info().get("workers", {}))

    @property
    def dashboard_link(self) -> str | None:
        """The scheduler's dashboard URL, or None when it serves none (bokeh not installed)."""
        services = self.client.scheduler_info().get("services", {})
        if "dashboard" not in services:
            return None
        try:
            return str(self.client.dashboard_link)
        except (KeyError, AttributeError):  # pragma: no cover - depends on the scheduler
            return None

    def map(self, func: Callable[[dict], dict], tasks: Sequence[dict], *,
            expect: dict[str, str] | None, desc: str = "tasks", unit: str = "task",
            weights: Sequence[int] | None = None, progress: bool = True,
            ordered: bool = True, bar=None) -> Iterator[tuple[int, dict]]:
        """Run ``func(task)`` for every task on the cluster; yield ``(index, result)``.

        ``ordered``: in input order (results that finish early wait on the client), else as
        they finish. Each result is checked against ``expect`` (:func:`check_identity`)
        before it is yielded. A tqdm bar on the client (``bar``, or a new one when ``progress``)
        advances by ``weights[i]`` (default 1) per finished task. A task lost with its worker
        is recomputed by Dask on another one. On an error or interruption the tasks not yet
        finished are cancelled.
        """
        from distributed import as_completed
        from tqdm import tqdm

        weights = [1] * len(tasks) if weights is None else list(weights)
        if len(weights) != len(tasks):
            raise ValueError(f"weights has {len(weights)} entries for {len(tasks)} tasks")
        if not tasks:
            return
        prefix = f"{getattr(func, '__name__', 'task')}-{uuid.uuid4().hex[:8]}"
        futures = [self.client.submit(func, t, key=f"{prefix}-{i}", pure=False)
                   for i, t in enumerate(tasks)]
        position = {f.key: i for i, f in enumerate(futures)}
        waiting: dict[int, dict] = {}
        next_out = 0
        own_bar = bar is None
        if own_bar:
            bar = tqdm(total=sum(weights), desc=desc, unit=unit, disable=not progress,
                       dynamic_ncols=True)
        try:
            for future in as_completed(futures):
                i = position[future.key]
                try:
                    result = future.result()
                except ClusterError:
                    raise
                except Exception as exc:
                    raise ClusterError(f"task {i} of {desc!r} failed on the cluster "
                                       f"{self.address}: {type(exc).__name__}: {exc}") from exc
                finally:
                    futures[i] = None  # release the result on the cluster
                if expect is not None:
                    check_identity(result, expect)
                bar.update(weights[i])
                if not ordered:
                    yield i, result
                    continue
                waiting[i] = result
                while next_out in waiting:
                    yield next_out, waiting.pop(next_out)
                    next_out += 1
        finally:
            if own_bar:
                bar.close()
            left = [f for f in futures if f is not None]
            if left:
                self.client.cancel(left)

    def close(self) -> None:
        """Close the client and the LocalCluster this object started (not a remote one)."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self._local is not None:
            with contextlib.suppress(Exception):
                self._local.close()


#: What a ``scheduler=`` parameter takes: an address, a parsed one, an open Cluster, or None
#: (the local joblib path).
Scheduler = str | SchedulerSpec | Cluster | None


def connect(scheduler: str | SchedulerSpec, *, timeout_s: float = CONNECT_TIMEOUT_S,
            verbose: bool = True) -> Cluster:
    """Connect to ``scheduler`` (see :func:`parse_scheduler`); a LocalCluster is started for
    ``local[:N]``. Registers the BLAS-pinning worker plugin and, with ``verbose``, prints the
    address, the number of workers and the dashboard link.

    ClusterError (one line, naming the address) when the scheduler cannot be reached within
    ``timeout_s`` seconds; ValueError for a malformed address.
    """
    spec = scheduler if isinstance(scheduler, SchedulerSpec) else parse_scheduler(scheduler)
    if spec is None:
        raise ValueError("no scheduler given: pass local, local:N or tcp://host:port")
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        raise ClusterError(f"--scheduler needs dask[distributed] ({exc})") from None

    local = None
    if spec.kind == "local":
        # our own workers: one thread each, BLAS pinned before numpy loads, no port clash
        local = LocalCluster(n_workers=spec.n_workers, threads_per_worker=1, processes=True,
                             dashboard_address=":0", env=dict(BLAS_ENV))
        client = Client(local, timeout=f"{timeout_s}s")
        address = str(local.scheduler_address)
    else:
        address = str(spec.address)
        try:
            client = Client(address, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address} within "
                               f"{timeout_s:g} s ({type(exc).__name__}); is `dask scheduler` "
                               "running there?") from None
    cluster = Cluster(client, address, local)
    try:
        client.register_plugin(blas_plugin())
    except Exception as exc:
        cluster.close()
        raise ClusterError(f"cannot set up the workers of {address}: {exc}") from exc
    if verbose:
        link = cluster.dashboard_link
        print(f"invdes: dask scheduler {address} ({spec}), {cluster.n_workers} worker(s)"
              + (f"; dashboard: {link}" if link else "; no dashboard (install bokeh for one)"),
              flush=True)
    return cluster


@contextlib.contextmanager
def using(scheduler: Scheduler) -> Iterator[Cluster | None]:
    """``with using(scheduler) as cluster:`` None stays None (joblib path), a Cluster is used
    as is (and left open), an address is connected for the block and closed after it."""
    if scheduler is None or isinstance(scheduler, Cluster):
        yield scheduler
        return
    spec = scheduler if isinstance(scheduler, SchedulerSpec) else parse_scheduler(scheduler)
    if spec is None:
        yield None
        return
    cluster = connect(spec)
    try:
        yield cluster
    finally:
        cluster.close()

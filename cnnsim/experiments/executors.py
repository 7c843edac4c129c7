"""Running a sweep's tasks: in this process, in a local process pool, or on a Dask cluster.

    report = run_sweep("gradflow", tasks, "runs/sweep", Pool(workers=2), on_row=print)

``run_sweep`` is the one code path: it reads ``OUT/results.jsonl``, leaves out the tasks
that already have a row there (a stopped sweep resumes), compiles the kernels once in
this process (Numba writes them to its on-disk cache, which every local worker then
loads instead of compiling again), hands the rest to a backend, and appends each row as it
comes back. Only this process writes the file, and never two rows for one task.

Backends (each runs ``sweep.run_task(kind, task)`` somewhere and passes back its row):

* ``Serial()``                     here, one task after the other.
* ``Pool(workers)``                a ``concurrent.futures`` process pool (spawned processes;
                                   no extra dependency). A worker that dies breaks the
                                   pool: the unfinished tasks go to a new pool.
* ``Dask(workers)``                a ``dask.distributed`` LocalCluster of ``workers``
                                   processes (``processes=False``: threads in this process;
                                   Numba's kernels then run from several threads at once,
                                   which needs its tbb or omp threading layer, not workqueue).
* ``Dask(address="tcp://h:8786")`` an existing Dask cluster; ``Dask(client=c)`` a client.
                                   The scheduler reruns the task of a worker that died
                                   on another worker (up to its ``allowed-failures``).

Numba threads: every task runs with ``cores // tasks running at once on that machine``
threads (at least 1), so workers x threads <= cores and no core is oversubscribed.
A task whose worker dies ``MAX_DEATHS`` times gets an error row.
"""

import asyncio
import os
import time
import uuid

from .results import append_row, drop_failed, load_rows
from .sweep import error_row, run_task, task_key, warmup_tasks

MAX_DEATHS = 3
INSTALL_DASK = "pip install 'cnnsim[dask]'"


class DaskMissing(RuntimeError):
    pass


def cpu_count():
    """Cores this process may use (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_numba_threads(n):
    """Numba threads of the calling thread (at most NUMBA_NUM_THREADS, at least 1)."""
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _call(kind, task, threads):
    """Run one task with ``threads`` Numba threads (an int, or ``{worker address: n}`` on
    Dask, looked up by the worker that runs it)."""
    if isinstance(threads, dict):
        from distributed import get_worker

        threads = threads.get(get_worker().address, 1)
    set_numba_threads(threads)
    return run_task(kind, task)


class Serial:
    """Here, one task after the other."""

    workers = 1
    local = True

    def describe(self):
        return "in this process"

    def run(self, kind, tasks, emit):
        for t in tasks:
            emit(run_task(kind, t))


class Pool:
    """A local pool of ``workers`` spawned processes."""

    local = True

    def __init__(self, workers):
        self.workers = int(workers)

    def describe(self):
        return f"on {self.workers} local worker processes"

    def run(self, kind, tasks, emit):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        threads = max(1, cpu_count() // self.workers)
        deaths = {}
        pending = list(tasks)
        while pending:
            ex = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            try:
                futs = {ex.submit(_call, kind, t, threads): t for t in pending}
                pending = []
                for f in as_completed(futs):
                    t = futs[f]
                    try:
                        row = f.result()
                    except BrokenProcessPool:
                        # a worker died: every unfinished task of the pool lands here; we
                        # cannot tell which one it was running, so each counts one death
                        k = task_key(t)
                        deaths[k] = deaths.get(k, 0) + 1
                        if deaths[k] >= MAX_DEATHS:
                            emit(
                                error_row(
                                    kind,
                                    t,
                                    f"WorkerDied: the worker process died "
                                    f"{MAX_DEATHS} times while this task was "
                                    f"pending or running",
                                )
                            )
                        else:
                            pending.append(t)
                        continue
                    emit(row)
            finally:
                ex.shutdown(wait=not pending, cancel_futures=True)


def import_distributed(what="--dask/--scheduler"):
    try:
        import distributed
    except ImportError:
        raise DaskMissing(
            f"{what} needs dask.distributed, which is not installed: {INSTALL_DASK}"
        ) from None
    return distributed


class Dask:
    """A Dask cluster: a new LocalCluster of ``workers`` processes (``processes=False``:
    threads of this process), the scheduler at ``address``, or an existing ``client``."""

    local = True

    def __init__(self, workers=2, address=None, client=None, processes=True):
        self.workers, self.address, self.client, self.processes = (
            int(workers),
            address,
            client,
            processes,
        )
        self.local = address is None and client is None

    def describe(self):
        if self.client is not None:
            return f"on the Dask cluster of {self.client.scheduler.address}"
        if self.address:
            return f"on the Dask cluster at {self.address}"
        return (
            f"on a Dask LocalCluster of {self.workers} "
            f"{'processes' if self.processes else 'threads'}"
        )

    def run(self, kind, tasks, emit):
        distributed = import_distributed()
        cluster = None
        client = self.client
        try:
            if client is None and self.address:
                try:
                    client = distributed.Client(self.address, timeout="20s")
                except OSError as e:
                    raise RuntimeError(
                        f"--scheduler {self.address}: cannot connect ({str(e).splitlines()[0]})"
                    ) from None
            elif client is None:
                import logging

                cluster = distributed.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=self.processes,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                client = distributed.Client(cluster)
            try:
                client.wait_for_workers(1, timeout=60)
            except (TimeoutError, OSError):
                raise RuntimeError(
                    f"no Dask worker joined {client.scheduler.address} within "
                    f"60 s (start some with: dask worker "
                    f"{client.scheduler.address})"
                ) from None
            self._run(distributed, client, kind, tasks, emit)
        finally:
            if client is not None and client is not self.client:
                client.close()
            if cluster is not None:
                cluster.close()

    @staticmethod
    def threads_table(client):
        """``{worker address: Numba threads}``: the cores of each worker's machine divided
        by the task slots (``nthreads``) of all the workers on that machine."""
        info = (
            client.scheduler_info(n_workers=-1)["workers"]
            if _takes_n_workers(client)
            else client.scheduler_info()["workers"]
        )
        cores = client.run(cpu_count)
        slots = {}
        for w in info.values():
            slots[w["host"]] = slots.get(w["host"], 0) + w["nthreads"]
        return {a: max(1, cores.get(a, 1) // max(1, slots[w["host"]])) for a, w in info.items()}

    def _run(self, distributed, client, kind, tasks, emit):
        threads = self.threads_table(client)
        run = uuid.uuid4().hex[:8]
        futs = {}
        for i, t in enumerate(tasks):
            f = client.submit(_call, kind, t, threads, key=f"cnnsim-{kind}-{run}-{i}", pure=False)
            futs[f.key] = (f, t)
        # loop=client.loop: without it as_completed tracks the futures on the *current*
        # client's loop (a notebook's own Client, say), and a result that must be
        # recomputed after its worker died is then awaited on the wrong event loop.
        done = distributed.as_completed([f for f, _ in futs.values()], loop=client.loop)
        for f in done:
            t = futs.pop(f.key)[1]
            # result() rather than the status as_completed saw: a result that was finished
            # and then lost with its worker is recomputed meanwhile, and result() waits
            # for it (reading the status raced with that and reported the task failed)
            try:
                result = f.result()
            except (Exception, asyncio.CancelledError) as e:  # the task itself never
                # raises (run_task): its workers kept dying, or the scheduler lost it
                msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                result = error_row(kind, t, f"{type(e).__name__}: {msg}")
            emit(result)
            f.release()


def _takes_n_workers(client):
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def run_sweep(kind, tasks, out_dir, backend, on_row=None, retry_failed=False, warmup=True):
    """Run the tasks of ``tasks`` that have no row in ``OUT/results.jsonl`` yet.

    ``on_row(row, done, total)`` is called after each row is written (done counts the rows
    of this grid already in the file). Returns ``{"rows": [rows of this grid, grid order],
    "total", "skipped", "ran", "failed", "seconds", "notes"}``.
    """
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "results.jsonl")
    rows, note = load_rows(path)
    notes = [note] if note else []
    if retry_failed:
        before = len(rows)
        rows = drop_failed(path, rows)
        if before - len(rows):
            notes.append(f"retrying {before - len(rows)} failed tasks")
    keys = {}
    for t in tasks:
        keys.setdefault(task_key(t), t)  # a task listed twice runs once
    written = {r["key"] for r in rows}
    pending = [t for k, t in keys.items() if k not in written]
    done = len(keys) - len(pending)
    new = []

    def emit(row):
        nonlocal done
        if row["key"] in written or row["key"] not in keys:
            return  # never two rows for one task
        append_row(path, row)
        written.add(row["key"])
        new.append(row)
        done += 1
        if on_row is not None:
            on_row(row, done, len(keys))

    t0 = time.perf_counter()
    if pending and warmup and backend.local and not isinstance(backend, Serial):
        for t in warmup_tasks(kind, pending):  # compile once here; workers load the cache
            run_task(kind, t)
    backend.run(kind, pending, emit)
    order = {k: i for i, k in enumerate(keys)}
    ours = sorted((r for r in rows + new if r["key"] in keys), key=lambda r: order[r["key"]])
    return {
        "rows": ours,
        "total": len(keys),
        "skipped": len(keys) - len(pending),
        "ran": len(new),
        "failed": sum(1 for r in ours if r.get("error") is not None),
        "seconds": time.perf_counter() - t0,
        "notes": notes,
    }

"""Where a stage's per-item work runs (params `executor`, `jobs`, `dask_scheduler`):

local  `jobs` spawned processes on this machine (1: in this process), the default;
dask   the workers of an existing Dask cluster, through its scheduler's address; they read
       inputs and write outputs on storage shared with this machine, at the same paths.

Either way results come back in input order, so a stage's records and outputs are the same
bytes. An item whose work raises, or whose Dask workers died running it, becomes the
caller's per-item failure (`on_error(item, exc)`, e.g. a rejected record): never a lost
item. A ConfigError (a setting, not the item) stops the stage."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from functools import cache, partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from radtune.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")
#: how long a stage waits for the cluster's scheduler to answer and for a first worker
CONNECT_SECONDS = 60
#: glibc mallopt parameters (malloc.h) and what keep_freed_memory sets them to
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 128 << 20


def describe(exc: BaseException) -> str:
    """An item's failure in one line: `unexpected <type>: <message>`, or that its workers died."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return f"the Dask workers running it died ({exc.allowed_failures + 1} attempts; see the worker logs)"
    return " ".join(f"unexpected {type(exc).__name__}: {exc}".split())


def worker_path(path: Path, executor: str) -> Path:
    """`path` as the workers must be given it: absolute on Dask, whose workers do not share
    this process's working folder (they see the same storage at the same paths)."""
    return path.absolute() if executor == "dask" else path


def written_here(
    results: Iterable[R], written: Callable[[R], Path | None], executor: str, what: str = "files"
) -> Iterator[R]:
    """The results, passed on as they come; on Dask, a ConfigError after the last one when
    some file the workers wrote (`written(result)`; None: it wrote none) is not on this
    machine: a worker wrote to its own disk, not to storage shared with this machine."""
    missing: list[Path] = []
    each = iter(results)
    try:
        for result in each:
            path = written(result) if executor == "dask" else None
            if path is not None and not path.is_file():
                missing.append(path)
            yield result
    finally:  # a stopped run stops the pool / leaves the cluster at once (map_in_order's finally)
        if hasattr(each, "close"):
            each.close()
    if missing:
        raise ConfigError(
            f"dask_scheduler: {len(missing)} {what} the workers wrote are not on this machine (first: {missing[0]}); "
            "the workers must write to storage shared with this machine, at the same path"
        )


@cache
def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed blocks of up to 32 MB (and 128 MB of free heap) in
    this process instead of handing them back to the system, as a local worker's first
    act. Each image's multi-megabyte arrays then reuse pages already mapped instead of
    faulting in fresh zeroed ones (normalize: ~16 instead of ~24 ms per 2K radiograph
    here). Peak memory stays that of the largest image. False (nothing done) off glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def reraise(item: Any, exc: Exception) -> Any:
    """`map_in_order`'s on_error for work without per-item failures: the stage stops."""
    raise exc


def _attempt(fn: Callable[[T], R], item: T) -> tuple[bool, Any]:
    """(True, fn(item)) or (False, the exception): a local worker hands a failure back."""
    try:
        return True, fn(item)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - one item's failure becomes its on_error result
        return False, e


def map_in_order(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    on_error: Callable[[T, Exception], R],
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    desc: str = "",
    unit: str = "it",
) -> Generator[R, None, None]:
    """fn(item) for each item, yielded in input order as they are ready, with a progress
    bar; a failed item yields on_error(item, exc). `fn` must be picklable for jobs > 1 or
    executor dask (a module-level function or a partial of one)."""
    bar = partial(tqdm, total=len(items), desc=desc, unit=unit)
    outcomes: Generator[tuple[bool, Any], None, None]
    if executor == "dask":
        outcomes = _on_dask(fn, items, address)
    elif jobs <= 1:
        keep_freed_memory()
        outcomes = (_attempt(fn, item) for item in items)
    else:
        outcomes = _on_pool(fn, items, jobs)
    try:
        for (done, value), item in zip(bar(outcomes), items):  # the bar first: it reaches 100%
            yield value if done else on_error(item, value)
    finally:  # a stopped run (an error, Ctrl-C) shuts its pool / leaves the cluster at once
        outcomes.close()


def cores() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def start_worker(threads: int) -> None:
    """A local pool worker's set-up: keep freed memory, and let OpenCV's own parallel loops
    (INTER_AREA resize, filters) use only this worker's share of the cores. With OpenCV's
    default of one thread per core, `jobs` workers would run `jobs` x cores threads that
    preempt each other (2 jobs on 2 cores, 160 2K radiographs: 55-56 images/s with 4
    threads, 58-63 with 2). Thread counts do not change OpenCV's results."""
    import cv2

    keep_freed_memory()
    cv2.setNumThreads(threads)


def _on_pool(fn: Callable[[T], R], items: Sequence[T], jobs: int) -> Generator[tuple[bool, Any], None, None]:
    threads = max(1, cores() // jobs)
    with get_context("spawn").Pool(jobs, initializer=start_worker, initargs=(threads,)) as pool:
        yield from pool.imap(partial(_attempt, fn), items, chunksize=4)


def _on_dask(fn: Callable[[T], R], items: Sequence[T], address: str | None) -> Generator[tuple[bool, Any], None, None]:
    """Every item submitted at once; each result gathered in input order, then released."""
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except OSError as e:
        raise ConfigError(f"dask_scheduler: no Dask scheduler answers at {address} ({e})") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            raise ConfigError(f"dask_scheduler: the cluster at {address} has no workers") from None
        futures = client.map(fn, items, pure=False)
        for future in futures:
            try:
                outcome = True, future.result()
            except ConfigError:
                raise
            except Exception as e:  # noqa: BLE001 - the item's own failure, or its workers died
                outcome = False, e
            future.release()  # a gathered result is not kept on the cluster
            yield outcome

"""Training on several processes (data-parallel), started by `accelerate launch`.

    accelerate launch --multi_gpu --num_processes N stages/train.py ...   # CUDA host: one GPU per process;
                                                                          # CPU host: N processes on gloo

    RADTUNE_TRAIN_PROCESSES=N dvc exp run ...    # the same, for the train stage DVC runs as
                                                  # `python stages/train.py ...` (`launch_argv`)

`ranks()` says which process this is. A plain `python stages/train.py` is one process: it
never imports accelerate nor touches torch.distributed, `ranks()` is `Ranks()` (rank 0 of 1)
and every method below is a no-op, so a single-process run is exactly what it always was.

Under `accelerate launch` with N > 1 processes accelerate's `PartialState` starts the process
group (NCCL on CUDA, one device per process; gloo on a CPU host) and the train stage
(radtune.train.loop) divides each optimizer step's micro-batches among the processes
(`Ranks.mine`): the sequence of micro-batches is the single-process one, the losses are
divided by the step's answer-token count summed over the processes and the gradients are
summed (`Ranks.sum_grads_`), so an optimizer step is the single-process step up to float
summation order. Rank 0 alone writes files; the others wait for it (`barrier`).

accelerate 1.15's `--cpu` starts several processes only through mpirun (--mpirun_hostfile);
without it `accelerate launch --cpu --num_processes N` runs one process, which `ranks()`
refuses (on a CPU host `--multi_gpu` starts N processes with torchrun; radtune picks gloo)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from radtune.errors import ConfigError

BUCKET = 1 << 24  # elements per all-reduce / broadcast (64 MB of float32)


def _buckets(tensors: Sequence[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
    """Consecutive runs of tensors of one dtype and device, at most BUCKET elements each (or one tensor)."""
    bucket: list[torch.Tensor] = []
    size = 0
    for t in tensors:
        if bucket and ((t.dtype, t.device) != (bucket[0].dtype, bucket[0].device) or size + t.numel() > BUCKET):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel()
    if bucket:
        yield bucket


@torch.no_grad()
def _flat_(tensors: Iterable[torch.Tensor], op: Callable[[torch.Tensor], object]) -> None:
    """Apply a collective `op` to `tensors` in place, a few large flat buffers at a time."""
    for bucket in _buckets(list(tensors)):
        flat = torch.cat([t.reshape(-1) for t in bucket])
        op(flat)
        offset = 0
        for t in bucket:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (rank 0 of 1: a plain run)."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")  # where collectives put their buffers

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mine(self, n: int) -> range:
        """Which of n work items (the micro-batches of a step, the val batches) are this process's."""
        return range(self.rank, n, self.size)

    def sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over the processes (float64); the values themselves in one process."""
        if self.size == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return tuple(t.tolist())

    def sum_grads_(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Every parameter's gradient summed over the processes, in place. A parameter that got
        no gradient in any process keeps `grad=None` (AdamW skips it, as in one process)."""
        if self.size == 1:
            return
        got = self.sum(*(float(p.grad is not None) for p in params))
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        _flat_((p.grad for p in params), torch.distributed.all_reduce)
        for p, g in zip(params, got):
            if not g:
                p.grad = None

    def broadcast_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Rank 0's values of `tensors` in every process (as DistributedDataParallel does at the start)."""
        if self.size > 1:
            _flat_(tensors, lambda flat: torch.distributed.broadcast(flat, src=0))

    def barrier(self) -> None:
        if self.size > 1:
            torch.distributed.barrier()

    def finish(self, stage: str) -> None:
        """The end of a multi-process run: wait for rank 0's outputs, say so, close the group."""
        if self.size > 1:
            self.barrier()
            print(f"{stage}: process {self.rank} of {self.size} finished", flush=True)
            torch.distributed.destroy_process_group()


ONE = Ranks()  # a plain run
PROCESSES = "RADTUNE_TRAIN_PROCESSES"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def launched_processes() -> int:
    """How many processes the launcher started (torchrun's WORLD_SIZE, or MPI's, as accelerate reads them)."""
    names = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    return max(int(os.environ.get(name) or 1) for name in names)


@functools.cache
def ranks() -> Ranks:
    """This process's `Ranks`; under `accelerate launch` with several processes, the process
    group is started here (once)."""
    if launched_processes() <= 1:
        if _flag("ACCELERATE_USE_CPU") and "MASTER_ADDR" in os.environ:
            raise ConfigError(
                "accelerate launch --cpu --num_processes N started one process (accelerate starts several CPU "
                "processes only with --mpirun_hostfile); use `accelerate launch --multi_gpu --num_processes N "
                "stages/train.py ...` (torchrun: N processes, gloo on a CPU host)"
            )
        return ONE
    from accelerate import PartialState

    state = PartialState(cpu=_flag("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    return Ranks(state.process_index, state.num_processes, state.device)


def launch_argv(argv: Sequence[str]) -> list[str] | None:
    """When `RADTUNE_TRAIN_PROCESSES=N` (N > 1) asks a script started as one process to run in N
    (DVC starts the stage with `python`), the `accelerate launch` command doing that (a free
    port, one host); None when one process is asked for, or this is already one of the N."""
    n = int(os.environ.get(PROCESSES) or 1)
    if n <= 1 or launched_processes() > 1 or "WORLD_SIZE" in os.environ:
        return None
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n)]
    launch += ["--num_machines", "1", "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return launch + list(argv)

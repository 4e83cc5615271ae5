"""The byte pipe to a store agent's process: what it cannot take at once waits uncopied, and
every byte arrives, in order, whatever the pipe takes per write (real processes, real pipes)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import tracemalloc
from pathlib import Path

import pytest

from assay.store.remote import ProcessPipe

MiB = 2**20


def test_bytes_the_pipe_cannot_take_wait_as_the_callers_buffer_not_a_copy(tmp_path: Path) -> None:
    # The process reads nothing until the file `go` appears: the 1 MiB pipe fills and the
    # rest of an 8 MiB write has to wait in this process.
    go = tmp_path / "go"
    script = f"while [ ! -e {go} ]; do sleep 0.01; done; cat > /dev/null"

    async def work() -> int:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", script])
        data = bytearray(random.Random(1).randbytes(8 * MiB))
        try:
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                pipe.write(data)
                grown = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
            go.touch()
            await pipe.drain()
        finally:
            await pipe.close()
        assert pipe.process.returncode == 0, pipe.diagnostics()
        return grown

    grown = asyncio.run(work())
    # asyncio's pipe transport copied the ~7 MiB the pipe did not take into its own buffer.
    assert grown < MiB, f"writing 8 MiB into a full pipe allocated {grown:,} bytes"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_byte_arrives_in_order_through_a_slow_reader(tmp_path: Path, seed: int) -> None:
    # A reader that takes small reads with pauses: writes are partial, buffers wait, and
    # several of them go out in one writev. What arrives is what was written, in order.
    out = tmp_path / "out"
    script = f"dd bs=7919 iflag=fullblock status=none of={out}"
    rng = random.Random(seed)
    pieces = [rng.randbytes(rng.choice([1, 100, 4096, 65536, 300_000, 2 * MiB])) for _ in range(60)]

    async def work() -> None:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", script])
        try:
            for i, piece in enumerate(pieces):
                pipe.write(bytearray(piece) if i % 2 else piece)
                if rng.random() < 0.3:
                    await pipe.drain()
        finally:
            await pipe.close()
        assert pipe.process.returncode == 0, pipe.diagnostics()

    asyncio.run(work())
    expected = hashlib.sha256(b"".join(pieces)).hexdigest()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == expected


def test_a_write_to_a_process_that_ended_waits_for_drain_to_say_so(tmp_path: Path) -> None:
    """As asyncio's own transport: the write takes it, drain raises (the caller first reads
    why the process went, e.g. an agent that could not start)."""

    async def work() -> None:
        # Its stdin closed first (every write is EPIPE), alive while the pipe is set up.
        pipe = await ProcessPipe.start(["/bin/sh", "-c", "exec 0<&-; sleep 1; exit 3"])
        await asyncio.sleep(0.3)
        pipe.write(b"x" * MiB)  # EPIPE at once (or soon): kept for drain
        with pytest.raises(OSError):
            await pipe.drain()
        await pipe.close()

    asyncio.run(asyncio.wait_for(work(), 30))


def test_a_write_to_a_process_that_ended_is_an_error_not_a_hang(tmp_path: Path) -> None:
    async def work() -> None:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", "exit 3"])
        await pipe.process.wait()
        with pytest.raises(OSError):
            for _ in range(64):  # the first write may land in the pipe before EPIPE is seen
                pipe.write(b"x" * MiB)
                await pipe.drain()
        await pipe.close()
        assert "exit status 3" in pipe.diagnostics()

    asyncio.run(asyncio.wait_for(work(), 30))

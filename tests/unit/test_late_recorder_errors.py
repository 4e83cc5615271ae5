"""An error of the late recorder's start (the session's record, made once the database is
open; under a low ``ulimit -n`` an import in it meets EMFILE) reaches whoever awaits
:meth:`LateRecorder.settled`, once, and the event loop does not log it as an exception in a
callback (a traceback on the user's terminal before assay's own message)."""

from __future__ import annotations

import asyncio
import errno
import os
from typing import Any

import pytest

from assay.run.recording import LateRecorder


def test_an_error_of_the_start_is_raised_by_settled_not_logged_by_the_loop() -> None:
    logged: list[dict[str, Any]] = []
    starts: list[object] = []
    opened = object()  # stands for the Recorder: only handed to start here

    def failing_start(recorder: object) -> None:  # the injected fault: out of descriptors
        starts.append(recorder)
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE), "/x/describe.py")

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: logged.append(ctx))
        late = LateRecorder(lambda: opened, failing_start)  # type: ignore[arg-type,return-value]
        await asyncio.sleep(0.1)  # the thread opened it; its done-callback ran
        with pytest.raises(OSError) as raised:
            await late.settled()
        assert raised.value.errno == errno.EMFILE and raised.value.filename == "/x/describe.py"

    asyncio.run(main())
    assert logged == []
    assert starts == [opened]  # started once: settled() did not try again

"""A session's store imports small case sources on the event loop's own thread (a worker
thread running Python code holds the GIL while the loop starts other cases' processes) and
big ones in a worker; either way once per session."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from assay.run.artifacts import SessionStore
from assay.store import Store


def _import_threads(tmp_path: Path, source: Path) -> tuple[list[int], int]:
    store = Store(tmp_path / "store")
    seen: list[int] = []
    original = store.import_path

    def spy(path: Path, *args: object, **kwargs: object) -> object:
        seen.append(threading.get_ident())
        return original(path, *args, **kwargs)  # type: ignore[arg-type]

    store.import_path = spy  # type: ignore[method-assign]
    session = SessionStore(lambda: store)

    async def main() -> int:
        first = await session.source_tree(source)
        again = await session.source_tree(source)
        assert first == again
        # Every file and directory, as the tree records them.
        assert sorted(e.path for e in first.entries) == sorted(
            str(p.relative_to(source)) for p in source.rglob("*")
        )
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    session.close()
    return seen, loop_thread


def test_a_small_case_dir_is_imported_on_the_loop_thread_once(tmp_path):
    source = tmp_path / "case"
    source.mkdir()
    (source / "in.txt").write_text("1\n")
    (source / "expected").mkdir()
    (source / "expected/out.txt").write_text("1\n")
    seen, loop_thread = _import_threads(tmp_path, source)
    assert seen == [loop_thread]


def test_a_big_tree_is_imported_in_a_worker_thread(tmp_path):
    source = tmp_path / "big"
    source.mkdir()
    for i in range(70):  # more entries than a small source has
        (source / f"f{i}.txt").write_text(str(i))
    seen, loop_thread = _import_threads(tmp_path, source)
    assert len(seen) == 1 and seen[0] != loop_thread

"""The check at cleanup that a case did not write through its read-only links into the
store: real files named as store objects (by the BLAKE3 hash of their content)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from assay.run.artifacts import modified_inputs, note_changes
from assay.run.keeping import inputs_written
from assay.store.objects import hash_bytes

CONTENT = b"ORIGINAL\n"


def _object(root: Path, content: bytes = CONTENT) -> str:
    """A read-only store object of ``content`` with the store's 1970 modification time,
    linked into a stage dir; its path."""
    digest = hash_bytes(content)
    path = root / "objects" / "blobs" / digest[:2] / digest[2:]
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    path.chmod(0o444)
    os.utime(path, ns=(0, 0))
    (root / "stage").mkdir()
    os.link(path, root / "stage" / "input.txt")
    return str(path)


def _tamper(staged: Path, write: Callable[[Path], object] | None = None) -> None:
    """What a job of the objects' owner can do: make the linked input writable, write the
    same number of bytes (``write``, else a plain write), set its time and mode back."""
    staged.chmod(0o644)
    if write is None:
        staged.write_bytes(b"TAMPERED\n")  # the same size
    else:
        write(staged)
    os.utime(staged, ns=(0, 0))
    staged.chmod(0o444)


def test_a_write_whose_time_and_mode_were_set_back_is_found_and_set_aside(tmp_path):
    blob = _object(tmp_path)
    linked = [("input.txt", blob)]
    changed: dict[str, tuple[int, int]] = {}
    note_changes(linked, changed)
    staged = tmp_path / "stage" / "input.txt"
    staged.chmod(0o644)  # what the job did, as the objects' owner
    staged.write_bytes(b"TAMPERED\n")  # the same size
    os.utime(staged, ns=(0, 0))
    staged.chmod(0o444)
    assert modified_inputs(linked) == ([], [])  # (by the modification time alone: missed)
    said = inputs_written(linked, changed)
    assert said is not None and "wrote to read-only inputs (input.txt)" in said
    assert not os.path.exists(blob)  # set aside: stored again from its source
    assert os.listdir(tmp_path / "quarantine")


def test_a_change_time_moved_by_another_link_costs_a_hash_not_a_failure(tmp_path):
    blob = _object(tmp_path)
    linked = [("input.txt", blob)]
    changed: dict[str, tuple[int, int]] = {}
    note_changes(linked, changed)
    before = os.stat(blob).st_ctime_ns
    os.link(blob, tmp_path / "another case's link")  # what another case's setup does
    while os.stat(blob).st_ctime_ns == before:  # (a coarse clock: the same tick)
        os.unlink(tmp_path / "another case's link")
        os.link(blob, tmp_path / "another case's link")
    assert inputs_written(linked, changed) is None
    assert os.path.exists(blob)


def test_an_object_set_aside_since_it_was_staged_is_named(tmp_path):
    blob = _object(tmp_path)
    linked = [("input.txt", blob)]
    changed: dict[str, tuple[int, int]] = {}
    note_changes(linked, changed)
    os.unlink(blob)  # another case's cleanup set it aside, and a put stored it again
    Path(blob).write_bytes(CONTENT)
    os.utime(blob, ns=(0, 0))
    said = inputs_written(linked, changed)
    assert said is not None and "(input.txt) were set aside as damaged" in said
    assert "run it again" in said


def test_with_the_kernel_watching_a_link_elsewhere_costs_no_hash(tmp_path, monkeypatch):
    """Every case's link to a shared input moves its change time: with the inotify watch
    (assay.run.input_watch) only an object opened for writing is hashed again, not every
    shared input at every cleanup (gigabytes of reference data, once per case)."""
    from assay.run import artifacts

    hashed: list[str] = []
    real = artifacts._holds_its_content
    monkeypatch.setattr(artifacts, "_holds_its_content", lambda b: hashed.append(b) or real(b))
    blob = _object(tmp_path)
    linked = [("input.txt", blob)]
    changed: dict[str, tuple[int, int]] = {}
    note_changes(linked, changed)
    before = os.stat(blob).st_ctime_ns
    while os.stat(blob).st_ctime_ns == before:  # (a coarse clock: the same tick)
        os.link(blob, tmp_path / "another case's link")
        os.unlink(tmp_path / "another case's link")
    assert inputs_written(linked, changed) is None and hashed == []
    # A read-only open, as a job reading its input does: nothing either.
    assert (tmp_path / "stage" / "input.txt").read_bytes() == CONTENT
    assert inputs_written(linked, changed) is None and hashed == []


def test_a_write_through_a_shared_mapping_is_found(tmp_path):
    """A write through mmap reports no IN_MODIFY; the descriptor opened for writing that
    the mapping needs reports IN_CLOSE_WRITE as it closes."""
    import mmap

    blob = _object(tmp_path)
    linked = [("input.txt", blob)]
    changed: dict[str, tuple[int, int]] = {}
    note_changes(linked, changed)

    def through_a_mapping(staged: Path) -> None:
        with open(staged, "r+b") as fh, mmap.mmap(fh.fileno(), 0) as mapped:
            mapped[:8] = b"TAMPERED"

    _tamper(tmp_path / "stage" / "input.txt", through_a_mapping)
    said = inputs_written(linked, changed)
    assert said is not None and "wrote to read-only inputs (input.txt)" in said
    assert not os.path.exists(blob)


def test_without_inotify_the_change_time_still_finds_the_write(tmp_path, monkeypatch):
    """Fault injected (fake_no_inotify): where the kernel gives no watch, the change time
    alone says to hash the object again."""
    from assay.run import artifacts

    monkeypatch.setattr(artifacts, "input_watch", lambda: None)  # fake_no_inotify
    blob = _object(tmp_path)
    linked = [("input.txt", blob)]
    changed: dict[str, tuple[int, int]] = {}
    note_changes(linked, changed)
    _tamper(tmp_path / "stage" / "input.txt")
    said = inputs_written(linked, changed)
    assert said is not None and "wrote to read-only inputs (input.txt)" in said

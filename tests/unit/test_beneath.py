"""Opening beneath a stage dir (assay.compare.beneath), keeping files from it and giving a
closed one back to its owner, against real chains of links: each link on the way is
looked at as it is walked, so none that leads out is followed, whenever it was made."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay import planted
from assay.compare import beneath
from assay.compare.binary import read_whole
from assay.run.access import open_up
from assay.run.input_hints import tails
from assay.run.keeping import keep_file

SECRET = b"precious-canary-77c2\n"


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    """A stage dir with a file in a subdirectory, and a directory outside with a canary
    at the same names."""
    stage, outside = tmp_path / "stage", tmp_path / "outside"
    (stage / "sub").mkdir(parents=True)
    (stage / "sub" / "out.txt").write_text("mine\n")
    (outside / "sub").mkdir(parents=True)
    for where in (outside / "out.txt", outside / "sub" / "out.txt"):
        where.write_bytes(SECRET)
    return stage, outside


@pytest.fixture
def stage_fd(places: tuple[Path, Path]) -> Iterator[int]:
    fd = beneath.open_dir(str(places[0]))
    yield fd
    os.close(fd)


def _read(fd: int, rel: str, root: Path) -> bytes:
    return read_whole(rel, fd=beneath.open_beneath(fd, rel, root=str(root)))


def test_a_file_in_a_subdirectory_is_read(places, stage_fd):
    assert _read(stage_fd, "sub/out.txt", places[0]) == b"mine\n"


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_links_that_stay_below_are_followed(places, stage_fd, absolute):
    stage = places[0]
    target = str(stage / "sub") if absolute else "sub"  # (a job's ln -s "$PWD/sub")
    (stage / "via").symlink_to(target)
    (stage / "sub" / "up").symlink_to("../sub/out.txt")
    assert _read(stage_fd, "via/up", stage) == b"mine\n"


@pytest.mark.parametrize(
    "plant",
    [
        lambda stage, outside: (stage / "sub2").symlink_to(outside / "sub"),
        lambda stage, outside: (stage / "sub2").symlink_to("../outside/sub"),
        # A chain: a link inside to a link that leads out.
        lambda stage, outside: (
            (stage / "hop").symlink_to(outside / "sub"),
            (stage / "sub2").symlink_to("hop"),
        ),
        # Into a subdirectory below, then up past the root.
        lambda stage, outside: (stage / "sub2").symlink_to("sub/../../outside/sub"),
    ],
    ids=["absolute", "dotdot", "chain", "down-then-out"],
)
def test_a_link_on_the_way_that_leads_out_is_refused_unopened(places, stage_fd, plant):
    stage, outside = places
    plant(stage, outside)
    with pytest.raises(beneath.LeadsOut) as caught:
        beneath.open_beneath(stage_fd, "sub2/out.txt", root=str(stage))
    assert caught.value.real == str((outside / "sub" / "out.txt").resolve())


def test_the_stage_dir_swapped_for_a_link_after_it_was_opened_is_not_read_through(places, stage_fd):
    """The chain path-based reads met: the stage dir opened (setup), then moved away and a
    link to another directory put at its name. Reads by the name (realpath, then open)
    followed it; the descriptor keeps to the stage dir itself."""
    stage, outside = places
    stage.rename(stage.with_name("moved"))
    stage.symlink_to(outside)
    assert _read(stage_fd, "sub/out.txt", stage) == b"mine\n"
    with pytest.raises(OSError) as caught:
        beneath.open_dir(str(stage))  # (opened afresh: the link at its name is refused)
    assert caught.value.errno in (errno.ELOOP, errno.ENOTDIR)


def test_a_directory_put_at_the_stage_dirs_name_is_not_the_stage_dir(places):
    stage = places[0]
    made = beneath.identity(os.lstat(stage))
    stage.rename(stage.with_name("moved"))
    stage.mkdir()
    with pytest.raises(beneath.NotTheSame):
        beneath.open_dir(str(stage), made)


def test_a_loop_of_links_ends(places, stage_fd):
    stage = places[0]
    (stage / "a").symlink_to("b")
    (stage / "b").symlink_to("a")
    with pytest.raises(OSError) as caught:
        beneath.open_beneath(stage_fd, "a", root=str(stage))
    assert caught.value.errno == errno.ELOOP


def test_no_link_on_the_way_where_none_may_be(places, stage_fd):
    stage = places[0]
    (stage / "via").symlink_to("sub")
    with pytest.raises(beneath.LinkOnTheWay) as caught:
        beneath.open_beneath(stage_fd, "via/out.txt", root=str(stage), follow=False)
    assert caught.value.link == "via"


@pytest.mark.parametrize("move", [True, False], ids=["moved", "linked"])
def test_a_kept_file_whose_directory_became_a_link_out_after_it_was_chosen_stays(
    places, stage_fd, tmp_path, move
):
    """keep_files chose ``sub/out.txt`` (a file in a directory, when looked at); then
    ``sub`` became a link to the outside directory. Moved by its path, the outside
    directory's file went to the output dir (and for a passed case, out of its place)."""
    stage, outside = places
    (stage / "sub").rename(stage / "old-sub")
    (stage / "sub").symlink_to(outside / "sub")
    output = tmp_path / "output"
    output.mkdir()
    problem = keep_file(stage_fd, stage, "sub/out.txt", output, move)
    assert problem is not None and "sub/out.txt lies through a symbolic link to" in problem
    assert str((outside / "sub").resolve()) in problem
    assert (outside / "sub" / "out.txt").read_bytes() == SECRET  # still there
    assert not (output / "sub" / "out.txt").exists()


def test_a_kept_file_is_moved_from_the_stage_dir_opened(places, stage_fd, tmp_path):
    stage = places[0]
    output = tmp_path / "output"
    output.mkdir()
    assert keep_file(stage_fd, stage, "sub/out.txt", output, True) is None
    assert (output / "sub" / "out.txt").read_text() == "mine\n"
    assert not (stage / "sub" / "out.txt").exists()


def test_opening_up_gives_back_the_stage_dirs_own_directories_only(places, stage_fd):
    stage, outside = places
    (outside / "sub").chmod(0o500)
    (stage / "linked").symlink_to(outside / "sub")
    (stage / "sub").chmod(0o000)
    open_up(stage_fd)
    assert stat.S_IMODE(os.stat(stage / "sub").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(outside / "sub").st_mode) == 0o500  # (through the link)
    (outside / "sub").chmod(0o700)


def test_a_failed_builds_tails_come_from_the_stage_dir_opened(places, stage_fd):
    """The build's output ends (read for a failure's hint) after the stage dir was swapped
    for a link to a directory whose files have the same names: the stage dir's own."""
    stage, outside = places
    (stage / "assay-build.out").write_text("my build\n")
    (outside / "assay-build.out").write_bytes(SECRET)
    stage.rename(stage.with_name("moved"))
    stage.symlink_to(outside)
    assert tails(["assay-build.out"], stage_fd) == ["my build\n"]


def test_a_script_is_never_written_into_a_directory_a_link_at_the_stage_dirs_name_leads_to(
    places,
):
    stage, outside = places
    stage.rename(stage.with_name("moved"))
    stage.symlink_to(outside)
    with pytest.raises(OSError) as caught:
        planted.create(stage / "assay-run.sh")
    assert caught.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert not (outside / "assay-run.sh").exists()


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_one_name_is_opened_at_once_and_a_link_there_walked_as_any(places, stage_fd, absolute):
    """A single name (a suite's compared file, a run's output) is opened in one step; a
    link at that name is still read and walked: followed while it stays below, refused
    when it leads out, and refused outright where no link may be."""
    stage, outside = places
    (stage / "out.txt").write_text("top\n")
    assert _read(stage_fd, "out.txt", stage) == b"top\n"
    (stage / "inside").symlink_to(str(stage / "sub/out.txt") if absolute else "sub/out.txt")
    assert _read(stage_fd, "inside", stage) == b"mine\n"
    (stage / "leak").symlink_to(outside / "out.txt" if absolute else "../outside/out.txt")
    with pytest.raises(beneath.LeadsOut) as caught:
        beneath.open_beneath(stage_fd, "leak", root=str(stage))
    assert caught.value.real == str((outside / "out.txt").resolve())
    with pytest.raises(beneath.LinkOnTheWay) as refused:
        beneath.open_beneath(stage_fd, "inside", root=str(stage), follow=False)
    assert refused.value.link == "inside"
    with pytest.raises(FileNotFoundError):
        beneath.open_beneath(stage_fd, "missing", root=str(stage))

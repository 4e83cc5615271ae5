"""compare.confine.leads_out: where a path below a root really is when a link on its way
leads out; None when it stays in (whether it is looked at name by name or resolved)."""

from __future__ import annotations

import os

from assay.compare.confine import leads_out


def test_a_plain_file_and_a_missing_one_stay_in(tmp_path):
    root = tmp_path / "stage"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "out.txt").write_text("x")
    assert leads_out(str(root), str(root / "sub" / "out.txt")) is None
    assert leads_out(str(root), str(root / "missing.txt")) is None


def test_a_link_at_the_name_or_on_the_way_that_leads_out_is_found(tmp_path):
    root, outside = tmp_path / "stage", tmp_path / "secret"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "out.txt").write_text("secret")
    root.mkdir()
    (root / "out.txt").symlink_to(outside / "deep" / "out.txt")
    (root / "sub").symlink_to(outside / "deep")
    # A chain: a link inside leading to a link that leads out.
    (root / "hop").symlink_to("out.txt")
    real = str(outside / "deep" / "out.txt")
    assert leads_out(str(root), str(root / "out.txt")) == real
    assert leads_out(str(root), str(root / "sub" / "out.txt")) == real
    assert leads_out(str(root), str(root / "hop")) == real


def test_a_link_that_stays_inside_and_a_root_behind_a_link_stay_in(tmp_path):
    real_root = tmp_path / "real"
    (real_root / "sub").mkdir(parents=True)
    (real_root / "sub" / "out.txt").write_text("x")
    (real_root / "inner").symlink_to("sub")
    (tmp_path / "via").symlink_to(real_root)
    root = tmp_path / "via"
    assert leads_out(str(root), str(root / "inner" / "out.txt")) is None
    assert leads_out(str(root), str(root / "sub" / "out.txt")) is None


def test_dot_dot_on_the_way_is_resolved_not_taken_by_name(tmp_path):
    root = tmp_path / "stage"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    escaped = os.path.join(str(root), "sub", "..", "..", "secret.txt")
    assert leads_out(str(root), escaped) == str(tmp_path / "secret.txt")
    assert leads_out(str(root), os.path.join(str(root), "sub", "..", "x")) is None

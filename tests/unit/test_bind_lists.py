"""A case's instance gets list fields as lists of its own: a single string is a list of one,
a tuple a list, None (or nothing) an empty list, but None where it means "not set", and a variant's
own fields beat the class's."""

from __future__ import annotations

from pathlib import Path

import assay
from assay.define.test import CaseInfo, bind


def _info(tmp_path: Path) -> CaseInfo:
    return CaseInfo("c", "id", "v", "sys", "part", "env", tmp_path, tmp_path)


class Listed(assay.Test):
    command = "true"
    tags = ("fast", "tiny")
    systems = "sys"
    environments = ("env", "other")
    sources = "src"
    exclude_sources = ("*.o",)
    writable = "data"
    build = "make"
    prerun = ("a", "b")
    postrun = "c"
    keep_files = ("out.txt",)
    maintainers = "me"


def test_each_list_field_is_a_list_of_the_instance_own(tmp_path: Path) -> None:
    obj = bind(Listed, {}, {}, _info(tmp_path))
    assert obj.tags == {"fast", "tiny"}
    assert (obj.systems, obj.environments) == (["sys"], ["env", "other"])
    assert (obj.sources, obj.exclude_sources, obj.writable) == (["src"], ["*.o"], ["data"])
    assert (obj.build, obj.prerun, obj.postrun) == (["make"], ["a", "b"], ["c"])
    assert (obj.keep_files, obj.maintainers) == (["out.txt"], ["me"])
    obj.prerun.append("x")
    other = bind(Listed, {}, {}, _info(tmp_path))
    assert other.prerun == ["a", "b"]  # the first instance's change is its own


def test_unset_fields_and_a_variant_own_fields(tmp_path: Path) -> None:
    class Plain(assay.Test):
        command = "true"

    obj = bind(Plain, {}, {}, _info(tmp_path))
    assert (obj.sources, obj.build) == (None, None)
    assert obj.systems == obj.environments == ["*"]
    assert obj.keep_files == obj.prerun == obj.maintainers == []
    assert isinstance(obj.systems, list) and obj.systems is not Plain.systems
    assert obj.tags == set()
    given = {"tags": ["v"], "systems": "s2", "prerun": ("p",), "keep_files": "k"}
    obj = bind(Listed, {}, {}, _info(tmp_path), given)
    assert obj.tags == {"fast", "tiny", "v"}
    assert (obj.systems, obj.prerun, obj.keep_files) == (["s2"], ["p"], ["k"])
    assert obj.postrun == ["c"] and obj.environments == ["env", "other"]

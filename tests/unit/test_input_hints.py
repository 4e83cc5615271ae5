"""Which staged inputs a "Permission denied" names (run/input_hints.py)."""

from __future__ import annotations

from assay.run.input_hints import denied_hint, denied_inputs

INPUTS = ["in.txt", "out.txt", "data/mesh.dat", ".assay-artifact-build/bin/tool"]


def test_the_names_in_permission_denied_lines_of_every_common_shape_are_found():
    lines = {
        "cp: cannot create regular file 'out.txt': Permission denied": ["out.txt"],
        "cp: cannot create regular file \u2018out.txt\u2019: Permission denied": ["out.txt"],
        "PermissionError: [Errno 13] Permission denied: './data/mesh.dat'": ["data/mesh.dat"],
        "sh: 1: cannot create /tmp/x/stage/c-1/out.txt: Permission denied": ["out.txt"],
        "forrtl: Permission denied, unit 10, file data/mesh.dat": ["data/mesh.dat"],
    }
    for line, names in lines.items():
        assert denied_inputs([line], INPUTS, []) == names, line


def test_only_denied_lines_only_inputs_and_not_declared_or_assay_files():
    assert denied_inputs(["wrote out.txt", "done"], INPUTS, []) == []
    assert denied_inputs(["out.txt.bak: Permission denied"], INPUTS, []) == []
    assert denied_inputs(["'out.txt': Permission denied"], INPUTS, ["out*"]) == []
    assert denied_inputs(["bin/tool: Permission denied"], INPUTS, []) == []
    assert denied_inputs(["'mesh.dat': Permission denied"], INPUTS, []) == []  # not a path


def test_the_hint_names_the_inputs_and_the_declaration_for_tests_and_suites():
    assert 'writable = ["out.txt"] in the test' in denied_hint(["out.txt"], suite=False)
    many = denied_hint([f"f{i}" for i in range(7)], suite=True)
    assert "'f4' and 2 more are staged inputs" in many
    assert "under [suite] in the suite file" in many

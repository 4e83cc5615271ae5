"""``{name}`` for a test's own attributes holding plain data (ReFrame's ``executable``, a
property computed from parameters): substituted and quoted as parameters are. Before,
they stayed ``{executable}`` in the script: "command not found"."""

from __future__ import annotations

import assay


class Ported(assay.Test):
    executable = "./stream x"
    opts = ["-n", "10"]
    table = {"a": 1}  # not plain data: left alone
    command = "{executable} {opts}"

    @property
    def double(self) -> int:
        return 2 * self.params["n"]

    @property
    def broken(self) -> int:
        raise RuntimeError("no")

    def helper(self) -> str:
        return "never"


def _instance() -> Ported:
    test = Ported.__new__(Ported)
    test.params = {"n": 21}
    return test


def test_own_attributes_with_plain_data_are_substituted_and_quoted() -> None:
    test = _instance()
    assert test.format(Ported.command) == "'./stream x' -n 10"
    assert test.format("echo {double}") == "echo 42"
    assert test.format("{executable}", quote=False) == "./stream x"
    assert test.format("{{executable}}") == "{executable}"


def test_other_names_stay_as_written() -> None:
    test = _instance()
    said = "{table} {helper} {broken} {sanity} {nothing} ${HOME}"
    assert test.format(said) == said

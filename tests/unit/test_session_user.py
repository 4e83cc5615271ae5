"""The session's user name is what getpass.getuser says, found without importing getpass."""

from __future__ import annotations

import getpass

import pytest

from assay.session.directory import _user

_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


@pytest.mark.parametrize(
    "env",
    [
        {"LOGNAME": "ann", "USER": "bob"},
        {"USER": "bob", "USERNAME": "carl"},
        {"LOGNAME": "", "LNAME": "dora"},
        {"USERNAME": "eve"},
        {},  # none set: the password database's name of this uid
        {"LOGNAME": "", "USER": ""},  # set but empty: as if unset
    ],
)
def test_the_user_is_what_getpass_finds(monkeypatch, env):
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _user() == getpass.getuser()

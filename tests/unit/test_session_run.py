"""session.run as the CLI calls it: what it costs beyond the cases themselves."""

from __future__ import annotations

from assay import session
from assay.results import model
from assay.ui import RerunHint, make_display


def test_a_finished_run_never_formats_its_session(tmp_path, monkeypatch):
    # asyncio.run formats the repr of the task it drives when it restores the SIGINT
    # handler; a task whose result is the session would format every case result.
    (tmp_path / "test_few.py").write_text(
        "import assay\n\n\nclass Few(assay.Test):\n"
        "    i = assay.parameter(range(3))\n    command = 'true'\n"
    )
    formatted: list[str] = []
    real = model.Session.__repr__

    def counted(self: model.Session) -> str:
        formatted.append(self.id)
        return real(self)

    monkeypatch.setattr(model.Session, "__repr__", counted)
    monkeypatch.chdir(tmp_path)
    request = session.Request(paths=[str(tmp_path)], prefix=str(tmp_path / ".assay"))
    assert session.run(request, make_display(plain=True), RerunHint()) == 0
    assert formatted == []


def test_a_run_puts_what_start_up_made_out_of_the_collectors_sight(tmp_path, monkeypatch):
    import gc

    (tmp_path / "test_one.py").write_text(
        "import assay\n\n\nclass One(assay.Test):\n    command = 'true'\n"
    )
    monkeypatch.chdir(tmp_path)
    gc.unfreeze()
    try:
        request = session.Request(paths=[str(tmp_path)], prefix=str(tmp_path / ".assay"))
        assert session.run(request, make_display(plain=True), RerunHint()) == 0
        # The test class and the plan among them: full collections skip them.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

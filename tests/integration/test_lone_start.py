"""What ``assay run`` of a lone case has not imported when that case's process starts: the
modules only later work (or other runs) need wait until then (issue 12, the start-up
before the first process)."""

from __future__ import annotations

import ast


def test_a_lone_case_starts_before_the_modules_only_later_work_needs(assay_cli, write, tmp_path):
    modules = tmp_path / "modules.txt"
    write(
        "test_lone.py",
        f"""
        import sys

        import assay


        class Lone(assay.Test):
            command = "true"

            @assay.before("run")
            def note_modules(self):
                # Right before the case's process starts: what the run imported by then.
                with open({str(modules)!r}, "w") as out:
                    out.write(repr(sorted(sys.modules)))
        """,
    )
    result = assay_cli("run", "test_lone.py", "--plain")
    assert result.code == 0, result.stdout + result.stderr
    imported = set(ast.literal_eval(modules.read_text()))
    assert "assay.session.running" in imported  # (the run's own modules are in)
    # Stage dirs made ahead (run.ahead) are a suite's only; json: the session's
    # command.json is written through msgspec; the light parser's table is no dataclass.
    later = {"assay.run.ahead", "json"}
    assert not later & imported, sorted(later & imported)

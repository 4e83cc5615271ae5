"""ReFrame's names of what a test reads while it runs (``self.stagedir``,
``self.current_environ``, ``self.stdout``), and assay's: the hint added to the
``AttributeError`` that fails a case whose ported code still uses them. (Class attributes
with ReFrame's names are refused when the test loads: see ``definition._REFRAME``.)"""

from __future__ import annotations

_ASSAY = {
    "stagedir": "self.case.stage_dir",
    "outputdir": "self.case.output_dir",
    "current_system": "self.case.system",
    "current_partition": "self.case.partition",
    "current_environ": "self.case.environment (its settings: self.case.env_config)",
    "unique_name": "self.case.name",
    "display_name": "self.case.name",
    "stdout": "out.stdout, in sanity(self, out) and metrics",
    "stderr": "out.stderr, in sanity(self, out) and metrics",
    "getdep": "self.dependency(TEST, **params)",
}


def hint(exc: BaseException) -> str:
    """`` (ReFrame's name; assay's: self.case.stage_dir)`` for an AttributeError of a test
    object that names one of ReFrame's attributes, else empty."""
    name = getattr(exc, "name", None)
    ours = _ASSAY.get(name) if isinstance(name, str) else None
    if ours is None:
        return ""
    from assay.define.test import Test

    try:
        ported = isinstance(getattr(exc, "obj", None), Test)
    except BaseException:  # an object of test code's whose __class__ raises: no hint
        return ""
    if not ported:
        return ""
    return f" (ReFrame's name; assay's: {ours}; docs/from-reframe.md)"

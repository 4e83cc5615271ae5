"""assay: run regression and performance tests where they must run, and report exactly
what broke and what got slower.

A test author imports this package and nothing deeper::

    import assay

    class Hello(assay.Test):
        command = "echo hello"

        def sanity(self, out):
            out.expect(r"hello")
"""

from typing import TYPE_CHECKING, Any

from assay._version import __version__

if TYPE_CHECKING:
    from assay.define.hooks import STAGES, after, before, metric
    from assay.define.output import Output
    from assay.define.params import parameter, variable, variant_fields, variant_filter
    from assay.define.refs import Ref, ref
    from assay.define.test import CaseInfo, DependencyInfo, Test
    from assay.errors import SanityError

# The test author's names, imported on first use: every command imports this package first
# (``assay.cli`` is in it), and most commands (store, history, show ...) define no test.
_LAZY = {
    "STAGES": "assay.define.hooks",
    "after": "assay.define.hooks",
    "before": "assay.define.hooks",
    "metric": "assay.define.hooks",
    "Output": "assay.define.output",
    "parameter": "assay.define.params",
    "variable": "assay.define.params",
    "variant_fields": "assay.define.params",
    "variant_filter": "assay.define.params",
    "Ref": "assay.define.refs",
    "ref": "assay.define.refs",
    "CaseInfo": "assay.define.test",
    "DependencyInfo": "assay.define.test",
    "Test": "assay.define.test",
    "SanityError": "assay.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "STAGES",
    "CaseInfo",
    "DependencyInfo",
    "Output",
    "Ref",
    "SanityError",
    "Test",
    "__version__",
    "after",
    "before",
    "metric",
    "parameter",
    "ref",
    "variable",
    "variant_fields",
    "variant_filter",
]

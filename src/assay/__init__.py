"""assay: run regression and performance tests where they must run, and report exactly
what broke and what got slower.

A test author imports this package and nothing deeper::

    import assay

    class Hello(assay.Test):
        command = "echo hello"

        def sanity(self, out):
            out.expect(r"hello")
"""

from assay._version import __version__
from assay.define.hooks import STAGES, after, before, metric
from assay.define.output import Output
from assay.define.params import parameter, variable, variant_fields, variant_filter
from assay.define.refs import Ref, ref
from assay.define.test import CaseInfo, DependencyInfo, Test
from assay.errors import SanityError

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

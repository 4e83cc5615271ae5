"""Environment modules (Lmod, Environment Modules): the lines that load an environment's
modules in build and run scripts.

``module`` is a shell function that a non-login ``bash script.sh`` does not have: the
script looks for it the way each module system expects to be found (Lmod: ``$LMOD_PKG``'s
init script, ``$LMOD_CMD``, ``/etc/profile.d/lmod.sh``; Environment Modules:
``$MODULESHOME``'s init script, ``/etc/profile.d/modules.sh``, ``modulecmd``), or sources
the init file the environment names. A module command that fails ends the script with
:data:`MODULE_FAILED` after the module system's own message, which the setup stage shows
(:mod:`assay.run.module_check`).
"""

from __future__ import annotations

from assay import shell
from assay.config import Environment

MODULE_FAILED = 96
"""The exit code of a script whose module command failed (or that found no ``module``)."""

_LMOD = [
    '  if [ -n "${LMOD_PKG:-}" ] && [ -r "$LMOD_PKG/init/bash" ]; then . "$LMOD_PKG/init/bash"',
    '  elif [ -n "${LMOD_CMD:-}" ] && [ -x "$LMOD_CMD" ]; then',
    '    module() { eval "$("$LMOD_CMD" bash "$@")"; }',
    "  elif [ -r /etc/profile.d/lmod.sh ]; then . /etc/profile.d/lmod.sh",
    "  elif [ -r /usr/share/lmod/lmod/init/bash ]; then . /usr/share/lmod/lmod/init/bash",
    "  fi",
]
_TCL = [
    # Lmod sets $MODULESHOME to its own directory, whose init/bash is Lmod's.
    '  if [ -n "${MODULESHOME:-}" ] && [ -r "$MODULESHOME/init/bash" ] \\',
    '    && [ ! -e "$MODULESHOME/libexec/lmod" ]; then',
    '    . "$MODULESHOME/init/bash"',
    "  elif [ -r /etc/profile.d/modules.sh ]; then . /etc/profile.d/modules.sh",
    "  elif [ -r /usr/share/modules/init/bash ]; then . /usr/share/modules/init/bash",
    "  elif command -v modulecmd >/dev/null 2>&1; then",
    '    module() { eval "$(modulecmd bash "$@")"; }',
    "  fi",
]


def uses_modules(env: Environment) -> bool:
    """Whether an environment runs any module command."""
    return bool(env.module_commands())


def find_module_lines(env: Environment) -> list[str]:
    """Lines that make sure a ``module`` command exists, or end the script saying why."""
    if env.modules_init:
        init = shell.quote(env.modules_init)
        fail = _fail("cannot source modules_init " + env.modules_init)
        return [f". {init} || {fail}", *_its_own(env)]
    chain = {
        "lmod": _LMOD,
        "environment-modules": _TCL,
        # Lmod first: it also sets $MODULESHOME, to its own directory.
        "auto": [
            *_LMOD,
            "  if ! declare -F module >/dev/null; then",
            *("  " + line for line in _TCL),
            "  fi",
        ],
    }[env.modules_system]
    missing = (
        f"no module command for the {env.modules_system} module system: "
        "set modules_init in the environment to the init script that defines it"
    )
    # A named system does not make do with the other one's `module`, inherited from the
    # shell that started the job (an exported function): it is dropped and looked for.
    drop = {
        "lmod": ["if declare -F module >/dev/null && ! declare -f module | grep -qi lmod; then"],
        "environment-modules": [
            "if declare -F module >/dev/null && declare -f module | grep -qi lmod; then"
        ],
        "auto": [],
    }[env.modules_system]
    if drop:
        drop.append("  unset -f module")
        drop.append("fi")
    return [
        *drop,
        "if ! declare -F module >/dev/null; then",
        *chain,
        "fi",
        f"declare -F module >/dev/null || {_fail(missing)}",
        *_its_own(env),
    ]


def _its_own(env: Environment) -> list[str]:
    """For a named module system: a line that ends the script when the ``module`` found
    is the other system's (an init script of the other one, or a site's
    ``/etc/profile.d/modules.sh``, which Lmod's packages install too)."""
    how = f'modules_system = "{env.modules_system}"'
    if env.modules_system == "lmod":
        return [
            "declare -f module | grep -qi lmod || "
            + _fail(
                f"the module command found is not Lmod's ({how}); "
                "set modules_init to Lmod's init script"
            )
        ]
    if env.modules_system == "environment-modules":
        return [
            "! declare -f module | grep -qi lmod || "
            + _fail(
                f"the module command found is Lmod's ({how}); set modules_init to "
                "Environment Modules' init script ($MODULESHOME/init/bash of its install)"
            )
        ]
    return []


def module_lines(env: Environment) -> list[str]:
    """The script lines that run an environment's module commands (none without modules);
    each failure ends the script with :data:`MODULE_FAILED`."""
    if not uses_modules(env):
        return []
    lines = ["# environment modules", *find_module_lines(env)]
    for words in env.module_commands():
        lines.append(f"{shell.join(words)} || {_fail(' '.join(words) + ' failed')}")
    return lines


def _fail(message: str) -> str:
    """Shell text that says ``assay: message`` on stderr and ends the script."""
    return f"{{ echo {shell.quote('assay: ' + message)} >&2; exit {MODULE_FAILED}; }}"

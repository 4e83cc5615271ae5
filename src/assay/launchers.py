"""Launchers put a command under the parallel program starter a partition uses.

In the style of Parsl's launchers: each launcher is an object that turns a command (shell
text) and the resources a job asked for into the command line that starts it. A partition
names its launcher (``launcher = "srun"``) and may give it more options
(``launcher_options = ["--mpi=pmix"]``); every option is one word, quoted into the line.

=========== ==================================================================
``none``    the command as it is (:class:`Direct`)
``srun``    ``srun --ntasks=N [--cpus-per-task=C] [GPUS] OPTIONS CMD`` (:class:`Srun`),
            GPUS as the partition's ``slurm.gpu_request`` says (:mod:`~assay.schedulers.gpus`)
``mpirun``  Open MPI: ``mpirun -np N [--map-by ppr:K:node] OPTIONS CMD`` (:class:`Mpirun`),
            with a session directory of the job's own
``mpiexec`` MPICH, Intel MPI and the MPI standard's form:
            ``mpiexec -n N [-ppn K] OPTIONS CMD`` (:class:`Mpiexec`)
=========== ==================================================================
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from assay import shell
from assay.schedulers.base import JobResources
from assay.schedulers.gpus import slurm_gpu_options

if TYPE_CHECKING:
    from assay.config import GpuRequest, Partition


class Launcher(abc.ABC):
    """Turns a command and a resource request into the command line that starts it."""

    name: ClassVar[str]

    def __init__(
        self,
        options: Sequence[str] = (),
        gpu_request: GpuRequest = "gpus-per-node",
        gres: str | None = None,
    ) -> None:
        self.options = list(options)
        # How Slurm is asked for GPUs (only srun states them; MPI starters run in the
        # allocation the scheduler asked for).
        self.gpu_request: GpuRequest = gpu_request
        self.gres = gres

    @abc.abstractmethod
    def words(self, resources: JobResources) -> list[str]:
        """The starter's own words (program and options) for ``resources``."""

    def command(self, command: str, resources: JobResources) -> str:
        """The command line that starts ``command`` (shell text, kept as it is)."""
        words = self.words(resources)
        if not words:
            return command
        return shell.join([*words, *self.options]) + " " + command

    def problem(self, command: str) -> str | None:
        """Why this launcher cannot start ``command`` (shell text), or None.

        The launcher's words go in front of the command's shell text, so its first word is
        what the launcher starts as every task: a program. A variable assignment or a shell
        word there (``OMP_NUM_THREADS=2 ./app``, ``cd sub && ./app``) fails on the node with
        a bare ``execve`` error, or (``(./a; ./b)``) is a syntax error of the job script.
        """
        if not self.words(JobResources()):
            return None
        word = _first_word(command)
        if word is None:
            return None
        launched = f"`{self.name} ... {command}`"
        if _ASSIGNMENT.match(word):
            name = word.split("=", 1)[0].rstrip("+")
            return (
                f"the command starts with the variable assignment {word!r}, which the "
                f"{self.name} launcher would start as a program ({launched}); set the "
                f'variable in the test\'s env (env = {{"{name}": "..."}}) and start the '
                "command with the program"
            )
        if word in _SHELL_ONLY or word[0] in "({":
            return (
                f"the command starts with the shell word {word!r}, which the {self.name} "
                f"launcher cannot start: it starts programs ({launched}); put shell steps "
                'such as `cd sub` in prerun (prerun = ["cd sub"]), variables in env, and '
                "start the command with the program (or a script that does the rest)"
            )
        later = _later_program(command)
        if later is not None:
            operator, program = later
            return (
                f"the program {program!r} comes after {operator} in the command, so the "
                f"{self.name} launcher does not start it: it would run once, in the job "
                f"script ({launched}); launch each program in a test of its own (or run "
                "one script that runs them as the command), or, to run it once, put it in "
                f'postrun (postrun = ["{program} ..."])'
            )
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"


# Shell keywords and builtins that are no program a launcher could start (`time` is left
# out: /usr/bin/time is one, and `srun time ./app` times each task).
_SHELL_WORDS = (
    "! [[ if then elif else fi for while until do done case esac select coproc function "
    "cd pushd popd export unset set shopt source . eval exec ulimit umask alias declare "
    "typeset local readonly let trap builtin"
)
_SHELL_ONLY = frozenset(_SHELL_WORDS.split())
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")


def _first_word(command: str) -> str | None:
    """The first word of ``command`` as written (quotes kept), or None if it has none."""
    text = command.lstrip()
    if not text:
        return None
    if text[0] in "({":  # a subshell or group: `(cd x; ./a)`, `{ ./a; }`
        return text[0]
    return re.split(r"[\s;&|<>]", text, maxsplit=1)[0] or None


def _later_program(command: str) -> tuple[str, str] | None:
    """The first command after a list operator (``;``, ``&&``, ``||``, ``&``, a newline)
    of ``command``'s top level that starts with a program named by its path (``./b``,
    ``bin/b``), with that operator; None when there is none. A launcher starts only the
    list's first command: what follows runs once, in the job script. That is meant for
    a tool on PATH (``./app > out; grep -q done out``), not for a program of the test's
    own, which the user meant to launch like the first. Quotes, ``$(...)``, backquotes and
    parentheses are skipped; a pipe and ``2>&1`` are no list operators."""
    text, i, depth, n = command, 0, 0, len(command)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in "'`":
            end = text.find(c, i + 1)
            if end < 0:
                return None
            i = end + 1
            continue
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if c == "#" and (i == 0 or text[i - 1] in " \t\n;&|"):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            operator = None
            if c in ";\n":
                operator = c
            elif c == "&" and text[i + 1 : i + 2] == "&":
                operator = "&&"
            elif c == "|" and text[i + 1 : i + 2] == "|":
                operator = "||"
            elif c == "&" and text[i - 1 : i] not in ("<", ">", "|") and text[i + 1 : i + 2] != ">":
                operator = "&"
            if operator is not None:
                i += len(operator)
                word = _first_word(text[i:])
                if word is not None and "/" in word and word[0] not in "({$\"'":
                    return ("a newline" if operator == "\n" else f"`{operator}`"), word
                continue
        i += 1
    return None


class Direct(Launcher):
    """No starter: the command runs as it is (its options, if any, are ignored)."""

    name = "none"

    def words(self, resources: JobResources) -> list[str]:
        return []


class Srun(Launcher):
    """Slurm's ``srun``; inside an allocation it takes its geometry from the job, which the
    line states for clarity."""

    name = "srun"

    def words(self, resources: JobResources) -> list[str]:
        words = ["srun", f"--ntasks={resources.tasks}"]
        if resources.cpus_per_task:
            words.append(f"--cpus-per-task={resources.cpus_per_task}")
        gpus = resources.gpus_per_node
        if gpus and self.gpu_request == "gres":
            # A step that names a gres gets only the gres it names (srun(1), --gres), so
            # the GPUs go with the partition's own gres, as in the job's header.
            words.append(f"--gres={slurm_gpu_options(gpus, 'gres', self.gres)['gres']}")
        elif gpus:
            words.append(f"--gpus-per-node={gpus}")
        return words


OMPI_SESSION_DIR = (
    'OMPI_MCA_orte_top_session_dir="${OMPI_MCA_orte_top_session_dir:-$(mktemp -u '
    '"${OMPI_MCA_orte_tmpdir_base:-${TMPDIR:-/tmp}}/assay-ompi.XXXXXXXXXX")}"'
)
"""The assignment in front of each ``mpirun`` line: a session directory of the job's own.

Open MPI 4 puts every ``mpirun`` of one user on one host under one directory
(``$TMPDIR/ompi.HOST.UID``) and removes it when a run ends and leaves it empty. Two runs
ending and starting at once race: the starting one fails in ``orte_init`` ("orte_session_dir
failed"; open-mpi/ompi#8510), about once in 300 starts with 8 at once here. A top directory
per ``mpirun`` has no other user; Open MPI makes it (mode 0700) and removes it at the end.
Its name is ``mktemp -u``'s, which no one can guess: a name known in advance in a shared
``/tmp`` (it was ``assay-ompi.HOST.PID``) can be made first by another user of the host,
whose directory Open MPI then uses for the job's session files (its contact file, shared
memory). Named, not made: Open MPI 5 (PRRTE) ignores the variable, and a directory made
for it would be left behind by every run (the name is in mpirun's environment alone, which
only the job's user can read). A directory the partition or the environment names
(``orte_top_session_dir``, or ``orte_tmpdir_base`` under which it goes) is kept."""


class Mpirun(Launcher):
    """Open MPI's ``mpirun``: ``--map-by ppr:K:node`` places K tasks on each node; each
    job's runs get a session directory of their own (:data:`OMPI_SESSION_DIR`)."""

    name = "mpirun"

    def words(self, resources: JobResources) -> list[str]:
        words = ["mpirun", "-np", str(resources.tasks)]
        if resources.tasks_per_node:
            words += ["--map-by", f"ppr:{resources.tasks_per_node}:node"]
        return words

    def command(self, command: str, resources: JobResources) -> str:
        return f"{OMPI_SESSION_DIR} {super().command(command, resources)}"


class Mpiexec(Launcher):
    """``mpiexec`` as MPICH's and Intel MPI's Hydra take it (``-n``, ``-ppn``); ``-n`` alone
    is the MPI standard's form, which every implementation accepts."""

    name = "mpiexec"

    def words(self, resources: JobResources) -> list[str]:
        words = ["mpiexec", "-n", str(resources.tasks)]
        if resources.tasks_per_node:
            words += ["-ppn", str(resources.tasks_per_node)]
        return words


LAUNCHERS: dict[str, type[Launcher]] = {cls.name: cls for cls in (Direct, Srun, Mpirun, Mpiexec)}
"""Every launcher, by the name a partition's ``launcher`` setting gives."""


def launcher(
    name: str,
    options: Sequence[str] = (),
    gpu_request: GpuRequest = "gpus-per-node",
    gres: str | None = None,
) -> Launcher:
    """The launcher named ``name``, with its options and how it asks Slurm for GPUs."""
    try:
        cls = LAUNCHERS[name]
    except KeyError:
        raise ValueError(f"unknown launcher {name!r}; known: {', '.join(LAUNCHERS)}") from None
    return cls(options, gpu_request, gres)


def partition_launcher(partition: Partition) -> Launcher:
    """The launcher a partition's config names, with its options and GPU request."""
    slurm = partition.slurm
    return launcher(partition.launcher, partition.launcher_options, slurm.gpu_request, slurm.gres)

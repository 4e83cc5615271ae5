"""The agent's request loop: frames in on stdin, one response per request out on stdout, in
the order the requests came (the client sends many before reading any: see :mod:`.wire`).

Operations (arguments in the header; ``receive`` also takes the piece as the payload, ``read``
answers with bytes as the payload):

* ``hello {root, purpose, create}``: open the store (``~`` and relative paths are resolved on
  this host), take a lease; answers ``{protocol, root, host, pid, python, free}``. First.
* ``missing {objects}``: which of ``[[kind, digest], ...]`` the store lacks (all pinned).
* ``missing_in_tree {tree}``: which objects a stored tree needs that the store lacks (the tree
  pinned, and with it all it names).
* ``missing_below {trees}``: which objects stored directory objects name directly (their
  files, their subdirectories) the store lacks (the trees pinned, and all they reach).
* ``partials {objects}``: bytes held of each object's unfinished upload.
* ``receive {kind, digest, offset, finish?: {size, sha256}, zlib?: length}`` + the piece:
  append at ``offset`` (the held size), then with ``finish`` check the SHA-256 and publish.
* ``receive_many {objects: [[kind, digest, size, sha256], ...]}`` + their bytes, one after
  another: whole objects, each checked and published as ``receive`` does; answers a list.
* ``add_version {version}``: record a version whose tree is complete here (last).
* ``resolve {ref}``, ``versions {name}``, ``names``: what the store holds.
* ``read {kind, digest, offset, length, zlib?}``: bytes of a stored object (to pull it).
* ``pin {trees}``: keep stored trees (and all they name) for as long as this agent lives.
* ``stage {tree, target, writable?, copy_all?}``, ``checkout {tree}``: write trees out.
* ``verify {repair?}``: re-hash and check everything.
* ``bye``: end (the end of the input stream does the same).
"""

from __future__ import annotations

import hashlib
import io
import os
import select
import signal
import sys
import zlib
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from types import FrameType

from . import uploads
from .layout import AgentError, Refused, check_object, describe, free_bytes
from .state import AgentStore
from .wire import MAX_PIECE, ProtocolError, encode, read_frame

PROTOCOL = 2
_F_SETPIPE_SZ = 1031  # Linux; fcntl.F_SETPIPE_SZ only exists from Python 3.10
_PIPE_SIZE = 1 << 20  # the most an unprivileged process may ask for (pipe-max-size)
# Answers held back while more requests wait are written out at least once per this many
# bytes received: the client's progress (and its window) never lags further behind.
_ANSWER_EVERY = 4 << 20


class _Bye(Exception):
    pass


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise Refused(f"{what} must be a non-empty string, not {value!r}")
    return value


def _inflate(payload: bytes | bytearray, length: object) -> bytes:
    """A zlib-compressed piece, expanded to exactly ``length`` bytes (never more)."""
    if not isinstance(length, int) or not 0 <= length <= MAX_PIECE:
        raise Refused(f"a compressed piece must say its length (at most {MAX_PIECE})")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(bytes(payload), length)
    except zlib.error as exc:
        raise Refused(f"a compressed piece does not inflate: {exc}") from None
    if len(data) != length or inflater.unconsumed_tail or not inflater.eof:
        raise Refused(f"a compressed piece does not inflate to the {length} bytes it announced")
    return data


class Agent:
    def __init__(self, default_root: str | None) -> None:
        self.default_root = default_root
        self.store: AgentStore | None = None

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def handle(
        self, op: str, args: dict[str, Any], payload: bytearray
    ) -> tuple[Any, bytes | bytearray]:
        """(result, payload) of one request."""
        if op == "hello":
            return self._hello(args), b""
        if op == "bye":
            raise _Bye()
        store = self.store
        if store is None:
            raise Refused("say hello first (which store?)")
        if op == "receive":
            # The payload itself, not a copy: hashing and writing take a bytearray as well.
            data = payload if args.get("zlib") is None else _inflate(payload, args["zlib"])
            result = uploads.receive(
                store,
                args.get("kind"),
                args.get("digest"),
                args.get("offset"),
                data,
                args.get("finish"),
            )
            return result, b""
        if op == "receive_many":
            return uploads.receive_many(store, args.get("objects"), payload), b""
        if op == "read":
            return self._read(store, args)
        if op == "missing":
            return uploads.missing(store, args.get("objects")), b""
        if op == "missing_in_tree":
            check_object("trees", args.get("tree"))
            return uploads.missing_in_tree(store, args["tree"]), b""
        if op == "missing_below":
            return uploads.missing_below(store, args.get("trees")), b""
        if op == "partials":
            return uploads.partials(store, args.get("objects")), b""
        if op == "add_version":
            with store.lock.shared():
                version, created = store.refs.add(args.get("version"))
            return {"version": version, "created": created}, b""
        if op == "resolve":
            version = store.refs.resolve(args.get("ref"))
            with store.lock.shared():
                store.pin_trees([version["tree"]])
            return version, b""
        if op == "versions":
            return store.refs.versions(_text(args.get("name"), "name")), b""
        if op == "names":
            return store.refs.names(), b""
        if op == "pin":
            trees = args.get("trees")
            if not isinstance(trees, list):
                raise Refused("trees must be a list of tree digests")
            for tree in trees:
                check_object("trees", tree)
            with store.lock.shared():
                store.pin_trees(trees)
            return None, b""
        if op in ("stage", "checkout", "set_aside"):
            # Imported when asked for: a push never stages, and compiling the staging code
            # (the agent arrives as source) is part of every push's start-up otherwise.
            from . import stage as staging
        if op == "stage":
            writable = args.get("writable") or []
            if not isinstance(writable, list) or not all(isinstance(w, str) for w in writable):
                raise Refused("writable must be a list of patterns")
            check_object("trees", args.get("tree"))
            target = os.path.abspath(os.path.expanduser(_text(args.get("target"), "target")))
            return staging.stage(
                store, args["tree"], target, writable, bool(args.get("copy_all"))
            ), b""
        if op == "checkout":
            check_object("trees", args.get("tree"))
            return staging.checkout(store, args["tree"]), b""
        if op == "set_aside":
            return staging.set_aside(store, args.get("objects")), b""
        if op == "verify":
            from .verify import verify

            return verify(store, bool(args.get("repair"))), b""
        raise Refused(f"{op!r} is not an operation of this agent (protocol {PROTOCOL})")

    def _hello(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.store is not None:
            raise Refused("hello was said already")
        raw = args.get("root") or self.default_root
        if not raw:
            data_home = os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
            raw = os.path.join(data_home, "assay", "store")
        if self.default_root and args.get("root") and args["root"] != self.default_root:
            raise Refused(
                "this agent was started for the store at {}, not {}".format(
                    self.default_root, args["root"]
                )
            )
        root = os.path.abspath(os.path.expanduser(_text(raw, "root")))
        purpose = args.get("purpose") or "transfer"
        self.store = AgentStore(root, str(purpose), bool(args.get("create", True)))
        return {
            "protocol": PROTOCOL,
            "root": root,
            "host": os.uname().nodename,  # gethostname(), without importing socket
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "free": free_bytes(root),
        }

    def _read(self, store: AgentStore, args: dict[str, Any]) -> tuple[Any, bytes]:
        kind, digest = str(args.get("kind")), str(args.get("digest"))
        check_object(kind, digest)
        offset, length = args.get("offset", 0), args.get("length", MAX_PIECE)
        if not isinstance(offset, int) or offset < 0 or not isinstance(length, int):
            raise Refused("read needs a byte offset and length")
        if not 0 <= length <= MAX_PIECE:
            raise Refused(f"read at most {MAX_PIECE} bytes at a time")
        with store.lock.shared():
            store.pin_objects([(kind, digest)])
            try:
                fh = open(store.layout.path(kind, digest), "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                raise AgentError(
                    f"the store at {store.root} lacks {kind}/{digest}; run verify there"
                ) from None
            with fh:
                size = os.fstat(fh.fileno()).st_size
                fh.seek(offset)
                data = fh.read(length)
        result: dict[str, Any] = {"size": size, "sha256": None}
        if offset == 0 and len(data) == size:
            result["sha256"] = hashlib.sha256(data).hexdigest()
        if args.get("zlib"):
            result["zlib"] = len(data)
            data = zlib.compress(data, 6)
        return result, data


def _error(exc: BaseException, root: str) -> dict[str, Any]:
    if isinstance(exc, OSError):
        exc = describe(exc, root)
    if isinstance(exc, AgentError):
        error: dict[str, Any] = {"type": exc.kind, "message": exc.message}
        error.update(exc.extra)
        return error
    if isinstance(exc, ProtocolError):
        return {"type": "ProtocolError", "message": str(exc)}
    return {
        "type": "AgentBug",
        "message": f"{type(exc).__name__}: {exc}",
        "traceback": _traceback(),
    }


def _traceback() -> str:
    import traceback  # only for a bug in the agent: not part of every start

    return traceback.format_exc()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _more_input(stdin: io.BufferedIOBase) -> bool:
    """Whether more of the request stream is already waiting in the pipe. Answers are then
    held back (written once the pipe is empty, or 4 MiB later): a push of 10,000
    small objects costs a few hundred writes back through ssh instead of 10,000, each of
    which wakes sshd, ssh and the client. No answer waits for input that needs it: a client
    writes every request whole, so a request begun in the pipe ends without an answer."""
    try:
        ready, _, _ = select.select([stdin.fileno()], [], [], 0)
    except (OSError, ValueError, io.UnsupportedOperation):  # not a descriptor: answer now
        return False
    return bool(ready)


class _Held:
    """The store's shared lock, held across a run of ``receive`` requests that are already
    waiting in the pipe (two ``flock`` calls per run instead of per object); let go before
    any other request (which may take the lock exclusively) and before the agent waits for
    input, so gc on that host never waits on an idle client."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._lock: Any = None

    def before(self, op: object) -> None:
        if op != "receive" and op != "receive_many":
            self.release()
        elif self._lock is None and self.agent.store is not None:
            self._lock = self.agent.store.lock.shared()
            self._lock.__enter__()

    def release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)


def serve(
    stdin: io.BufferedIOBase, stdout: io.BufferedIOBase, default_root: str | None = None
) -> int:
    """Answer requests until the input ends or the client says bye."""
    agent = Agent(default_root)
    for signum in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, _stop)  # end the lease on the way out
    unanswered = 0  # bytes received since answers were last written out
    held = _Held(agent)
    try:
        while True:
            try:
                frame = read_frame(stdin)
            except ProtocolError as exc:
                sys.stderr.write(f"assay store agent: {exc}\n")
                return 2
            if frame is None:
                stdout.flush()
                return 0
            header, payload = frame
            held.before(header.get("op"))
            response: dict[str, Any] = {"id": header.get("id"), "ok": True}
            out: bytes | bytearray = b""
            try:
                result, out = agent.handle(str(header.get("op")), header, payload)
                response["result"] = result
            except _Bye:
                response["result"] = None
                stdout.write(encode(response))
                stdout.flush()
                return 0
            except Exception as exc:
                root = agent.store.root if agent.store is not None else "(no store yet)"
                response = {"id": header.get("id"), "ok": False, "error": _error(exc, root)}
                out = b""
            stdout.write(encode(response, out))
            if out:
                stdout.write(out)
            unanswered += len(payload) + 1
            if unanswered >= _ANSWER_EVERY or not _more_input(stdin):
                held.release()  # before waiting for input: gc there may take the store
                stdout.flush()
                unanswered = 0
    except BrokenPipeError:
        return 0
    finally:
        held.release()
        agent.close()


def widen_pipes(fds: tuple[int, ...] = (0, 1)) -> None:
    """Make the pipes to sshd 1 MiB instead of 64 KiB, where the kernel allows: sshd then
    hands over a piece in a few writes instead of dozens, each of which waits for this
    process to be scheduled (what bounded a push on a busy host). Not a pipe, or another
    system: nothing to do."""
    if not sys.platform.startswith("linux"):
        return
    import fcntl
    import stat

    for fd in fds:
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:  # over the limit, or the descriptor is gone: the default serves
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = None
    if argv[:1] == ["--root"] and len(argv) == 2:
        root = argv[1]
    elif argv:
        sys.stderr.write(
            "usage: python3 -I agent.py [--root DIR]\n(the assay store agent: it speaks a "
            "framed protocol on stdin and stdout; assay starts it)\n"
        )
        return 2
    widen_pipes()
    stdin = cast("io.BufferedIOBase", sys.stdin.buffer)
    return serve(stdin, cast("io.BufferedIOBase", sys.stdout.buffer), root)

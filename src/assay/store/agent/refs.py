"""Names and versions, as :mod:`assay.store.names` keeps them: ``names/NAME/vN.json`` written
once, atomically, under ``names/.NAME.lock``; tags in ``names/NAME/tags.json``."""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    from .layout import Layout

from .layout import DIGEST, AgentError, Incomplete, Refused, locked, write_durable
from .trees import lacking

Record = Dict[str, Any]  # a version record; typing: this module runs on Python 3.7

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\Z")
REF = re.compile(r"(?P<name>[^@#]+)(?:@(?P<version>\d+)|#(?P<tag>.+))?\Z")
_TEXT = ("user", "host", "source", "source_kind", "archive_hash", "git_commit", "message")
_COUNTS = ("files", "bytes")  # new_bytes is the receiving store's own story: not copied
# The order assay writes a version's fields in (msgspec, defaults left out).
_ORDER = ("name", "version", "tree", "created", *_TEXT, *_COUNTS, "layers")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise Refused(
            f"{name!r} is not a valid name: use letters, digits, '.', '_', '+' and '-', starting "
            "with a letter or digit"
        )
    return name


def _user() -> str:
    import getpass  # only to record a version: not part of every start (termios)

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class Refs:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.root = layout.names

    def names(self) -> list[str]:
        if not os.path.isdir(self.root):
            return []
        return sorted(
            n for n in os.listdir(self.root) if NAME.match(n) and os.path.isdir(self._folder(n))
        )

    def _folder(self, name: str) -> str:
        return os.path.join(self.root, name)

    def scan(self, name: str) -> tuple[list[Record], list[str]]:
        """(the readable versions of ``name`` oldest first, what is wrong with the others)."""
        folder = self._folder(name)
        if not os.path.isdir(folder):
            return [], []
        found: list[Record] = []
        problems: list[str] = []
        for entry in sorted(os.listdir(folder)):
            if not (entry.startswith("v") and entry.endswith(".json")):
                continue
            path = os.path.join(folder, entry)
            problem = None
            try:
                with open(path, "rb") as fh:
                    record = json.loads(fh.read().decode("utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                number, tree = record.get("version"), record.get("tree")
                if not isinstance(number, int) or not isinstance(tree, str):
                    raise ValueError("no version number or tree")
            except OSError as exc:
                problem = exc.strerror or str(exc)
            except (UnicodeDecodeError, ValueError) as exc:
                problem = str(exc)
            else:
                if entry != f"v{number}.json" or record.get("name") != name:
                    problem = "it holds the record of {}@{}".format(record.get("name"), number)
                else:
                    found.append(record)
            if problem:
                problems.append(
                    f"{path}: unreadable version record ({problem}); restore it from a "
                    "backup, or delete it to drop that version"
                )
        return sorted(found, key=lambda r: r["version"]), problems

    def versions(self, name: str) -> list[Record]:
        versions, problems = self.scan(name)
        if problems:
            raise AgentError(problems[0])
        return versions

    def tags(self, name: str) -> dict[str, int]:
        path = os.path.join(self._folder(name), "tags.json")
        try:
            with open(path, "rb") as fh:
                tags = json.loads(fh.read().decode("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise AgentError(
                f"{path}: unreadable tags ({exc}); restore it from a backup, or delete it "
                "to drop the tags of that name"
            ) from None
        if not isinstance(tags, dict) or not all(isinstance(v, int) for v in tags.values()):
            raise AgentError(f"{path}: unreadable tags (not a map of tag to version)")
        return tags

    def add(self, record: object) -> tuple[Record, bool]:
        """Record a version of ``record["name"]`` for its tree (which must be complete here)
        unless the newest version already is that tree: (version record, created)."""
        fields = _checked(record)
        name, tree = fields["name"], fields["tree"]
        os.makedirs(self.root, exist_ok=True)
        with locked(os.path.join(self.root, f".{name}.lock"), exclusive=True):
            # The tree is walked on this disk even when its version is recorded already: the
            # client sends what this names lacking (a repair here may have dropped an object
            # under a directory that is still here) and asks again.
            missing = lacking(self.layout, tree)[0]
            if missing:
                raise Incomplete(
                    f"cannot record {name}: tree {tree[:16]} lacks {len(missing)} object(s) "
                    f"here (first: {missing[0]}); push them first"
                )
            existing = self.versions(name)
            if existing and existing[-1]["tree"] == tree:
                return existing[-1], False
            fields["version"] = existing[-1]["version"] + 1 if existing else 1
            version = {k: fields[k] for k in _ORDER if fields.get(k) not in (None, "", 0)}
            version["version"] = fields["version"]
            data = json.dumps(version, separators=(",", ":"), ensure_ascii=False).encode()
            write_durable(
                os.path.join(self._folder(name), "v{}.json".format(fields["version"])), data
            )
        return version, True

    def resolve(self, ref: object) -> Record:
        """The version a reference names (NAME, NAME@N, NAME#TAG, tree:PREFIX)."""
        if not isinstance(ref, str):
            raise Refused(f"{ref!r} is not a reference")
        if ref.startswith("tree:"):
            return self._by_tree(ref[5:].strip().lower())
        match = REF.match(ref.strip())
        if not match:
            raise AgentError(f"{ref!r} is not a reference; write NAME, NAME@3 or NAME#tag")
        name = match.group("name")
        versions = self.versions(name) if NAME.match(name) else []
        if not versions:
            known = self.names()
            if name in known:
                raise AgentError(
                    f"{name!r} has no version left in the store ({self._folder(name)} holds "
                    "no version record); push it again"
                )
            import difflib  # only for a name that is not there

            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            listed = "; names: " + ", ".join(known) if known else "; the store is empty"
            raise AgentError(f"no artifact named {name!r} in the store{hint}{listed}")
        if match.group("version"):
            number = int(match.group("version"))
            for version in versions:
                if version["version"] == number:
                    return version
            have = ", ".join(str(v["version"]) for v in versions)
            raise AgentError(f"{name} has no version {number}; versions: {have}")
        if match.group("tag"):
            tag = match.group("tag")
            tags = self.tags(name)
            if tag not in tags:
                raise AgentError(
                    "{} has no tag {!r}; tags: {}".format(
                        name, tag, ", ".join(sorted(tags)) or "none"
                    )
                )
            return self.resolve(f"{name}@{tags[tag]}")
        return versions[-1]

    def _by_tree(self, prefix: str) -> Record:
        if len(prefix) < 6 or not re.match(r"[0-9a-f]+\Z", prefix):
            raise AgentError(f"tree:{prefix}: give at least 6 hex digits of a tree hash")
        found = [v for n in self.names() for v in self.versions(n) if v["tree"].startswith(prefix)]
        if len({v["tree"] for v in found}) > 1:
            raise AgentError(f"tree:{prefix} is ambiguous")
        if not found:
            raise AgentError(f"no version has a tree starting with {prefix}")
        return max(found, key=lambda v: v.get("created", 0))


def _checked(record: object) -> Record:
    """The fields of a version record sent by a client, checked (unknown fields dropped)."""
    if not isinstance(record, dict):
        raise Refused(f"not a version record: {record!r}"[:300])
    fields: Record = {"name": check_name(record.get("name"))}
    tree = record.get("tree")
    if not isinstance(tree, str) or not DIGEST.match(tree):
        raise Refused(f"not a version record: its tree is {tree!r}")
    fields["tree"] = tree
    created = record.get("created", time.time())
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        raise Refused(f"not a version record: created is {created!r}")
    fields["created"] = created
    for key in _TEXT:
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise Refused(f"not a version record: {key} is {value!r}")
        fields[key] = value
    for key in _COUNTS:
        value = record.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise Refused(f"not a version record: {key} is {value!r}")
        fields[key] = value
    fields["user"] = fields["user"] or _user()
    fields["host"] = fields["host"] or os.uname().nodename
    fields["source_kind"] = "transfer"
    return fields

"""A TOML decoder under test, as toml-test runs one: reads TOML on stdin, writes toml-test's
tagged JSON. Its dates and times are Python's str(): "1979-05-27 07:32:00+00:00" where
toml-test's expected files say "1979-05-27T07:32:00Z" (the same moment)."""

import datetime
import json
import sys
import tomllib


def tag(value):
    if isinstance(value, dict):
        return {k: tag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tag(v) for v in value]
    if isinstance(value, bool):
        return {"type": "bool", "value": str(value).lower()}
    if isinstance(value, datetime.datetime):
        kind = "datetime" if value.tzinfo else "datetime-local"
    elif isinstance(value, datetime.date):
        kind = "date-local"
    elif isinstance(value, datetime.time):
        kind = "time-local"
    else:
        kind = {int: "integer", float: "float", str: "string"}[type(value)]
    return {"type": kind, "value": str(value)}


json.dump(tag(tomllib.loads(sys.stdin.read())), sys.stdout, indent=1)

"""Number tokens are found in time linear in the line: a run of digits glued to a letter
made the old pattern backtrack through every split of the run (minutes for 64 KiB), and a
job's output is not trusted to be kind."""

from __future__ import annotations

import json
import random
import re

from assay.compare import numeric
from tests.conftest import run_python

# The pattern before the rewrite: the rewrite must find exactly the same tokens.
_OLD_NUMBER = r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?|(?i:nan|inf(?:inity)?))"
_OLD_TOKEN = re.compile(rf"(?<![\w.])({_OLD_NUMBER})(?!\w|\.\d)|(\w+|\S)")
_OLD_CELL = re.compile(rf"\s*{_OLD_NUMBER}\s*")


def test_the_tokens_and_cells_are_those_of_the_old_pattern():
    rnd = random.Random(15)
    alphabet = "0123456789..eEdD+-x _,nanINFinfy(=\u0663"
    for _ in range(100_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 14)))
        assert numeric.TOKEN.findall(text) == _OLD_TOKEN.findall(text), text
        old, new = _OLD_CELL.fullmatch(text), numeric.NUMBER_CELL.fullmatch(text)
        assert (old and old.group()) == (new and new.group()), text


def test_a_long_run_of_digits_glued_to_a_letter_is_tokenized_at_once():
    # 200,000 digits: the old pattern's 4e10 steps would take hours; the process is given
    # a minute (run_python's bound), which only a linear pattern meets.
    out = run_python(
        """
        from assay.compare import numeric
        line = "1" * 200_000 + "x " + "2" * 100_000 + ".5" + "3" * 100_000 + "e" + "4" * 1000 + "y"
        print(len(numeric.TOKEN.findall(line)))
        """
    )
    assert out.split() == ["4"]  # words: the digits with their x; 22..2, '.', 33..3e44..4y


def test_comparing_files_whose_line_is_a_long_run_of_digits_glued_to_a_letter_ends(tmp_path):
    # The whole chain a job's output takes: the engine, its quick path and, past a piece
    # of 64 Ki characters, its long-line path (the old pattern: minutes for either line).
    for size in (60_000, 70_000):
        expected, actual = tmp_path / f"e{size}.txt", tmp_path / f"a{size}.txt"
        expected.write_text("1" * size + "x 2.0\n")
        actual.write_text("1" * size + "x 3.0\n")
        out = run_python(
            """
            import json, sys
            from assay.compare.engine import compare_files
            print(json.dumps(compare_files(sys.argv[1], sys.argv[2], rtol=1e-6)))
            """,
            str(expected),
            str(actual),
        )
        verdict = json.loads(out)
        assert verdict["ok"] is False, verdict  # 2.0 against 3.0 is out of rtol

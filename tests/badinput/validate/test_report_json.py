"""report and bundle create read validate's report.json back: a hand-edited one is refused naming the file, the
entry and the key, with what to do."""
import pytest

from ..conftest import assert_refused
from .._exported import BAD_VALIDATION, copy_documents, documents_once, edit_json


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    return documents_once(tmp_path_factory)


@pytest.mark.parametrize("verb", ["report", "bundle"])
@pytest.mark.parametrize("change, mentions", [c[1:] for c in BAD_VALIDATION], ids=[c[0] for c in BAD_VALIDATION])
def test_bad_validate_report(cli, guard, tmp_path, documents, verb, change, mentions):
    docs = copy_documents(documents, tmp_path / "docs")
    path = edit_json(docs["validate"] / "report.json", change)
    g = guard()
    command = ["report"] if verb == "report" else ["bundle", "create"]
    outcome = cli(*command, docs["export"], "--validation", docs["validate"], "--bench", docs["bench"],
                  "--out", tmp_path / "out")
    assert_refused(outcome, str(path), *mentions)
    assert "re-run" in outcome.err
    g.check(tmp_path / "out")


def test_the_documents_as_written_are_accepted(cli, tmp_path, documents):
    docs = copy_documents(documents, tmp_path / "docs")
    outcome = cli("report", docs["export"], "--validation", docs["validate"], "--bench", docs["bench"],
                  "--out", tmp_path / "out")
    assert outcome.code == 0, outcome.text

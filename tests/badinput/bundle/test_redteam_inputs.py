"""bundle create / report: a target list that selects nothing, an --out that is one of the input folders, and (for
report, as bundle already did) an artifact changed after validate are refused (exit 2)."""
import pytest

from ..conftest import assert_refused
from .._exported import copy_documents, documents_once


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    return documents_once(tmp_path_factory)


def command(verb):
    return ["report"] if verb == "report" else ["bundle", "create"]


def run(cli, verb, docs, out, *extra):
    return cli(*command(verb), docs["export"], "--validation", docs["validate"], "--bench", docs["bench"],
               "--out", out, *extra)


@pytest.mark.parametrize("verb", ["bundle", "report"])
@pytest.mark.parametrize("targets, mention", [(",", "stray comma"), ("x86-cpu,x86-cpu", "more than once"),
                                              ("X86-CPU", "lowercase")])
def test_target_lists_are_exact(cli, guard, tmp_path, documents, verb, targets, mention):
    docs = copy_documents(documents, tmp_path / "docs")
    g = guard()
    assert_refused(run(cli, verb, docs, tmp_path / "out", "--target", targets), "--target", mention)
    g.check(tmp_path / "out")


@pytest.mark.parametrize("verb", ["bundle", "report"])
@pytest.mark.parametrize("folder, label", [("validate", "--validation"), ("export", "ARTIFACTS"),
                                           ("bench", "--bench")])
def test_out_in_an_input_folder_is_refused(cli, guard, tmp_path, documents, verb, folder, label):
    docs = copy_documents(documents, tmp_path / "docs")
    g = guard()
    assert_refused(run(cli, verb, docs, docs[folder], "--force"), "--out", f"input {label}")
    g.check()


def test_report_refuses_an_artifact_changed_after_validate(cli, guard, tmp_path, documents):
    docs = copy_documents(documents, tmp_path / "docs")
    (docs["export"] / "vit4mnist.onnx").write_bytes(b"changed after validate")
    g = guard()
    assert_refused(run(cli, "report", docs, tmp_path / "out"), "vit4mnist.onnx", "does not match its recorded sha256")
    g.check(tmp_path / "out")

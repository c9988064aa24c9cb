"""bench ingest (and report / bundle, which read it back): a hand-edited bench.json is refused naming the file,
the row and the key, with what to do; it is never half-updated."""
import pytest

from ..conftest import assert_refused
from .._exported import BAD_BENCH, copy_documents, documents_once, edit_json


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    return documents_once(tmp_path_factory)


@pytest.mark.parametrize("change, mentions", [c[1:] for c in BAD_BENCH], ids=[c[0] for c in BAD_BENCH])
def test_bench_ingest_refuses_a_bad_bench_json(cli, guard, tmp_path, documents, change, mentions):
    docs = copy_documents(documents, tmp_path / "docs")
    path = edit_json(docs["bench"] / "bench.json", change)
    log = tmp_path / "vit4mnist_fp32.log"
    log.write_text("Latency: min = 1.0 ms, max = 2.0 ms, mean = 1.5 ms, median = 1.5 ms\n")
    g = guard()
    outcome = cli("bench", "ingest", docs["bench"] / "x86-cpu", log)
    assert_refused(outcome, str(path), *mentions)
    assert "re-run" in outcome.err
    g.check()


@pytest.mark.parametrize("verb", ["report", "bundle"])
@pytest.mark.parametrize("change, mentions", [c[1:] for c in BAD_BENCH[::3]], ids=[c[0] for c in BAD_BENCH[::3]])
def test_report_and_bundle_refuse_a_bad_bench_json(cli, guard, tmp_path, documents, verb, change, mentions):
    docs = copy_documents(documents, tmp_path / "docs")
    path = edit_json(docs["bench"] / "bench.json", change)
    g = guard()
    command = ["report"] if verb == "report" else ["bundle", "create"]
    outcome = cli(*command, docs["export"], "--validation", docs["validate"], "--bench", docs["bench"],
                  "--out", tmp_path / "out")
    assert_refused(outcome, str(path), *mentions)
    g.check(tmp_path / "out")

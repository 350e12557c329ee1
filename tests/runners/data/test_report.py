"""The exploration report: plot files DVC really accepts, and Markdown that hostile text cannot break."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from llmops.runners.data.clean import StepCount
from llmops.runners.data.profile import build_profile, metrics_from_profile
from llmops.runners.data.report import cell, markdown_report, plot_definitions, plot_files, text_histogram

HOSTILE = "a|b `code` <script>alert(1)</script>\nnew line & [link](x) *bold* _it_ \\ ~s~"
FILES = ["length_chars.csv", "length_tokens.csv", "label_balance.csv", "cleaning.csv"]


def _profile(label: bool = True, hostile: bool = True) -> dict:
    texts = [f"Where is my refund for order {i}? It was due on day {i % 7}." for i in range(40)]
    texts += ["x" * 2000, "CafÃ© \ufffd \x1b[31m", HOSTILE if hostile else "plain"]
    labels = ["billing", "shipping", "a|b <i>"] if hostile else ["billing", "shipping"]
    rows = [{"text": t, "label": labels[i % len(labels)], "_source": 0} for i, t in enumerate(texts)]
    empty = StepCount(1, "drop-empty", rows_in=45, rows_out=44)
    empty.drop({"text": "", "_source": 0}, "empty text")
    regex = StepCount(2, "regex-filter", rows_in=44, rows_out=43)
    regex.drop({"text": HOSTILE if hostile else "plain", "_source": 1}, "matched the pattern")
    splits = {"train": rows[:30], "validation": rows[30:37], "test": rows[37:]}
    return build_profile(
        splits,
        "text",
        "label" if label else None,
        [empty, regex],
        pii_found=Counter({"email": 2}),
        near_duplicate_rate=0.025,
    )


def _report(profile: dict | None = None, name: str = "faq") -> str:
    profile = profile or _profile()
    metrics = {"rows_read": 45, "duplicate_rate_read": 0.02, **metrics_from_profile(profile)}
    return markdown_report(profile, metrics, name)


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


# --- escaping ----------------------------------------------------------------------------------


def test_cell_escapes_markup_and_keeps_one_line():
    out = cell(HOSTILE, limit=200)
    assert "\n" not in out
    assert "<" not in out and ">" not in out
    assert "&lt;script&gt;" in out
    assert _unescaped_pipes(out) == 0
    assert "\\`code\\`" in out
    assert "↵" in out
    assert "\\[link\\]" in out and "\\*bold\\*" in out and "\\_it\\_" in out and "\\\\" in out
    assert "&amp;" in out


def test_cell_clips_to_80_characters_before_escaping():
    assert cell("y" * 100) == "y" * 79 + "…"
    clipped = cell("<" * 100)
    assert clipped == "&lt;" * 79 + "…"


def test_cell_makes_invisible_and_unwritable_characters_visible():
    out = cell("esc\x1b[31m nul\x00 del\x7f c1\x85 rtl\u202eabc lone\ud800 tab\tend\r\nx")
    assert out == "esc␛\\[31m nul␀ del␡ c1\ufffd rtl\ufffdabc lone\ufffd tab end↵x"
    out.encode("utf-8")


def test_hostile_text_cannot_break_tables_or_inject_html():
    report = _report()
    report.encode("utf-8")
    assert "<script" not in report and not re.search(r"<[A-Za-z/!]", report)
    assert "&lt;script&gt;" in report  # it is shown, escaped, in the dropped samples
    table: list[str] = []
    for line in [*report.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            widths = {_unescaped_pipes(row) for row in table}
            assert len(widths) == 1, table
            table = []


def test_dataset_name_is_escaped_in_the_title():
    assert _report(name="x <img> | y").splitlines()[0] == "# Data report: x &lt;img&gt; \\| y"


# --- Markdown content --------------------------------------------------------------------------


def test_report_has_every_section_with_the_numbers():
    report = _report()
    for heading in [
        "## Summary",
        "## Cleaning",
        "## Text length",
        "## Labels",
        "## Duplicates",
        "## Length outliers",
        "## Unusual characters",
        "## Frequent words",
        "## Personal data",
        "## Dropped samples",
        "## All metrics",
    ]:
        assert f"\n{heading}\n" in report
    assert "| read | 45 |" in report and "| kept | 43 |" in report and "| train | 30 |" in report
    assert "| 1 | drop-empty | 45 | 44 | 1 | 0 | empty text (1) |" in report
    assert "| 2 | regex-filter | 44 | 43 | 1 | 0 | matched the pattern (1) |" in report
    assert "- near-duplicate rate: 2.50%" in report
    assert "- exact duplicates as read: 2.00%" in report
    assert "1 record with |z| > 3" in report
    assert "| email | 2 |" in report
    assert "| refund |" in report
    assert "### 2-regex-filter" in report
    assert "| chars | all | 13 |" in report


def test_report_sections_say_when_there_is_nothing():
    profile = build_profile({"train": [{"text": "hello there"}]}, "text", None, [])
    report = markdown_report(profile, {}, "tiny")
    assert "No label column." in report
    assert "No cleaning steps." in report
    assert "PII detection did not run." in report
    assert "No records were dropped." in report
    assert "- near-duplicate rate: not measured" in report


def test_report_splits_in_pipeline_order_even_after_a_json_round_trip():
    profile = _profile()
    reloaded = json.loads(json.dumps(profile, sort_keys=True))
    assert markdown_report(reloaded, {}, "faq") == markdown_report(profile, {}, "faq")
    summary = markdown_report(reloaded, {}, "faq").split("## Cleaning")[0]
    assert summary.index("| train |") < summary.index("| validation |") < summary.index("| test |")


def test_report_says_when_ngrams_come_from_a_sample():
    profile = {**_profile(), "ngram_records": 10}
    assert "Counted on a fixed sample of 10 of the 43 records." in markdown_report(profile, {}, "faq")
    assert "Counted on a fixed sample" not in markdown_report(_profile(), {}, "faq")
    assert "n-grams seen once" in markdown_report(_profile(), {}, "faq")


def test_report_is_deterministic():
    assert _report(_profile()) == _report(_profile())
    assert plot_files(_profile()) == plot_files(_profile())


def test_text_histogram_bars_scale_to_the_largest_bin():
    rows = [{"bin": "0", "count": 0}, {"bin": "2-3", "count": 4}, {"bin": "64-127", "count": 8}]
    assert text_histogram(rows, width=4).splitlines() == ["     0 │ 0", "   2-3 │██ 4", "64-127 │████ 8"]
    assert text_histogram([{"bin": "1", "count": 1}, {"bin": "2-3", "count": 3}], width=1).splitlines() == [
        "  1 │▍ 1",
        "2-3 │█ 3",
    ]
    assert text_histogram([]) == "(no records)"


# --- plot files --------------------------------------------------------------------------------


def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_plot_files_are_csv_with_sortable_bins():
    files = plot_files(_profile())
    assert list(files) == FILES
    chars = _csv_rows(files["length_chars.csv"])
    bins = [row["bin"] for row in chars]
    assert bins == sorted(bins)  # vega sorts the nominal axis as text
    assert bins[-1] == "1024-2047" and bins[0].startswith("0")
    assert sum(int(row["count"]) for row in chars) == 43
    labels = _csv_rows(files["label_balance.csv"])
    assert {
        "group": "a|b <i> (train)",
        "label": "a|b <i>",
        "split": "train",
        "count": "10",
        "share": "0.3333",
    } in labels
    assert [row["step"] for row in _csv_rows(files["cleaning.csv"])] == ["1-drop-empty", "2-regex-filter"]


def test_plot_files_are_the_same_set_without_labels_or_steps():
    profile = build_profile({"train": [{"text": "a"}]}, "text", None, [])
    files = plot_files(profile)
    assert list(files) == FILES
    assert files["label_balance.csv"] == "group,label,split,count,share\n"
    assert files["cleaning.csv"] == "step,rows_in,rows_out,dropped,changed\n"


def test_plot_definitions_format():
    definitions = plot_definitions("reports/data-faq/")
    assert [next(iter(d)) for d in definitions] == [f"reports/data-faq/{name}" for name in FILES]
    assert definitions[0]["reports/data-faq/length_chars.csv"] == {
        "cache": False,
        "template": "bar_horizontal",
        "x": "count",
        "y": "bin",
        "title": "Text length (characters)",
        "x_label": "records",
        "y_label": "characters",
    }
    files = plot_files(_profile())
    for definition in definitions:
        ((path, props),) = definition.items()
        head = files[path.rsplit("/", 1)[1]].splitlines()[0].split(",")
        assert props["x"] in head and props["y"] in head


def _dvc() -> str:
    local = Path(sys.executable).parent / "dvc"
    found = str(local) if local.exists() else shutil.which("dvc")
    if found is None or shutil.which("git") is None:
        pytest.skip("dvc or git is not installed")
    return found


@pytest.mark.slow
def test_dvc_plots_show_accepts_the_files_and_definitions(tmp_path: Path):
    dvc = _dvc()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def sh(*args: str) -> str:
        out = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
        assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
        return out.stdout

    sh("git", "init", "-q")
    sh(dvc, "init", "-q")
    folder = "reports/data-faq"
    stage = {"cmd": "llmops run data-faq", "plots": plot_definitions(folder)}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"data-faq": stage}}, sort_keys=False))
    (tmp_path / folder).mkdir(parents=True)
    for name, text in plot_files(_profile()).items():
        (tmp_path / folder / name).write_text(text, encoding="utf-8")

    shown = json.loads(sh(dvc, "plots", "show", "--json"))
    assert "errors" not in shown, shown
    data = shown["data"]
    assert sorted(data) == sorted(f"{folder}/{name}" for name in FILES)
    for name in FILES:
        (plot,) = data[f"{folder}/{name}"]
        content = plot["content"]
        assert content["mark"]["type"] == "bar"
        assert content["encoding"]["y"]["type"] == "nominal"
        values = content["data"]["values"]
        assert values, name
    chars = shown["data"][f"{folder}/length_chars.csv"][0]["content"]
    assert chars["title"]["text"] == "Text length (characters)"
    assert chars["encoding"]["x"]["field"] == "count" and chars["encoding"]["y"]["field"] == "bin"
    sh(dvc, "plots", "show", "-o", str(tmp_path / "html"))
    assert (tmp_path / "html" / "index.html").is_file()

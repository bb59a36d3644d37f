"""``kesu classify`` and ``kesu taxonomy`` as a person at a shell uses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def env(no_env_file: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KESU_CACHE_DIR", str(cache_dir))
    return no_env_file


def kesu(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, prog_name="kesu")


def run_classify(stdin: bytes, *args: str, cache_dir: Path) -> list[str]:
    """The real command in a real process, fed raw bytes as a shell pipe would."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "classify", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, "KESU_CACHE_DIR": str(cache_dir)},
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("utf-8").splitlines()


def test_classify_one_line_out_per_line_in_whatever_comes(cache_dir: Path) -> None:
    lines = [
        "快递员态度恶劣,还多收了我二十元".encode(),
        b"",
        b"\xff\xfe broken bytes",
        ("退款" * 50_000).encode(),  # a 300 KB line
        "😡😡😡".encode(),
        "我們要找記者曝光,物業費亂收費".encode(),
        b"   ",
        b"I want a refund\r",  # a CRLF file
        "没有人受伤".encode(),
    ]
    out = [
        json.loads(line) for line in run_classify(b"\n".join(lines) + b"\n", cache_dir=cache_dir)
    ]
    assert [o["line"] for o in out] == list(range(1, len(lines) + 1))
    for o in out:
        assert {
            "category",
            "confidence",
            "keywords",
            "alternatives",
            "priority",
            "signals",
        } <= o.keys()
    assert out[0]["category"] == "staff"
    assert out[0]["amounts"] == [20.0]
    assert out[1]["error"] == "empty line"
    assert out[1]["category"] is None
    assert out[2]["error"] == "invalid UTF-8 at byte 0"
    assert out[3]["category"] == "billing"
    assert out[3]["truncated"] is True
    assert out[4]["category"] == "other"
    assert out[4]["signals"] == [{"flag": "emotion", "words": ["😡"]}]
    assert out[5]["category"] == "billing"
    assert {s["flag"] for s in out[5]["signals"]} == {"media"}
    assert out[5]["priority"] == "B"
    assert out[6]["error"] == "empty line"
    assert out[7]["category"] == "billing"
    assert out[8]["signals"] == []


def test_classify_text_format_and_no_trailing_newline(cache_dir: Path) -> None:
    out = run_classify("加油站员工态度恶劣\n你好".encode(), "--format", "text", cache_dir=cache_dir)
    assert len(out) == 2
    assert out[0].split("\t")[:2] == ["1", "staff"]
    assert "态度恶劣(+3)" in out[0]
    assert out[1].split("\t")[:2] == ["2", "other"]


def test_classify_empty_input_prints_nothing(cache_dir: Path) -> None:
    assert run_classify(b"", cache_dir=cache_dir) == []


def test_classify_with_an_unknown_taxonomy_is_a_clear_error(env: Path) -> None:
    result = kesu("classify", "--taxonomy", "nope.toml", stdin=b"x\n")
    assert result.exit_code == 1
    assert "nope.toml" in result.output
    assert "cannot read" in result.output


def test_taxonomy_list_and_check(env: Path) -> None:
    listed = kesu("taxonomy", "list")
    assert listed.exit_code == 0
    assert "real_estate" in listed.output
    ok = kesu("taxonomy", "check", "default")
    assert ok.exit_code == 0
    assert "default: OK, 6 categories" in ok.output
    bad = env / "bad.toml"
    bad.write_text('[taxonomy]\nid = "x"\nname_zh = "x"\nname_en = "x"\nfallback = "misc"\n\n'
                   '[[category]]\nid = "a"\nname_zh = "甲"\nname_en = "A"\n\n'
                   '[[category]]\nid = "b"\nname_zh = "乙"\nname_en = "B"\nextra = 1\n',
                   encoding="utf-8")  # fmt: skip
    failed = kesu("taxonomy", "check", str(bad))
    assert failed.exit_code == 1
    assert f"{bad}:16: category.1.extra" in failed.output


def test_learn_then_eval_then_classify(env: Path) -> None:
    out = env / "learned.toml"
    learned = kesu(
        "taxonomy", "learn", "--train", str(DATA / "complaints_4class_dev.tsv"),
        "--out", str(out), "--base", "default",
    )  # fmt: skip
    assert learned.exit_code == 0, learned.output
    assert "4 categories from 364 complaints" in learned.output
    assert kesu("taxonomy", "check", str(out)).exit_code == 0

    evaluated = kesu(
        "taxonomy", "eval", "--test", str(DATA / "complaints_4class_test.tsv"),
        "--taxonomy", str(out), "--json",
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.output)
    assert figures["count"] == 182
    assert figures["macro_f1"] >= 0.8
    assert len(figures["confusion"]) == 4

    text = kesu("taxonomy", "eval", "--test", str(DATA / "complaints_4class_test.tsv"))
    assert "macro-F1" in text.output
    assert "confusion matrix" in text.output

    classified = kesu("classify", "--taxonomy", str(out), stdin="快递一个星期还没到\n".encode())
    assert json.loads(classified.output)["category"] == "process"


def test_learn_refuses_bad_input_with_a_message(env: Path) -> None:
    one_label = env / "one.tsv"
    one_label.write_text("退款\tbilling\n退钱\tbilling\n", encoding="utf-8")
    result = kesu("taxonomy", "learn", "--train", str(one_label), "--out", str(env / "o.toml"))
    assert result.exit_code == 1
    assert "at least two labels" in result.output
    assert not (env / "o.toml").exists()
    missing = kesu("taxonomy", "eval", "--test", str(env / "missing.tsv"))
    assert missing.exit_code == 1
    assert "cannot read" in missing.output

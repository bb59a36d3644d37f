"""``kesu classify`` and ``kesu taxonomy …``: the classifier from a shell.

jieba, OpenCC and scikit-learn are imported inside the commands that use them, so the other
``kesu`` commands (and ``--help``) start in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from bot.config import Settings, settings_from_env
from bot.domain.cases import DomainError

if TYPE_CHECKING:
    from bot.nlp.classifier import Classifier
    from bot.nlp.learn import Evaluation


def _settings() -> Settings:
    try:
        return settings_from_env()
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc


def _load(name: str, cache_dir: Path | None) -> Classifier:
    from bot.nlp.classifier import Classifier

    try:
        return Classifier.load(name, cache_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(stream, start=1):
        yield number, raw.rstrip(b"\n").rstrip(b"\r")


def classify_stream(
    classifier: Classifier, stream: IO[bytes], out: IO[str], fmt: str
) -> tuple[int, int]:
    """One output line per input line, in order; returns (classified, errors)."""
    from bot.nlp.analyse import Analysis, analyse

    done = errors = 0
    for number, raw in _lines(stream):
        result: dict[str, Any] = {"line": number}
        analysis: Analysis | None = None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            result["error"] = f"invalid UTF-8 at byte {exc.start}"
        else:
            if not text.strip():
                result["error"] = "empty line"
            else:
                analysis = analyse(classifier, text)
                result |= analysis.as_json()
        if analysis is None:
            errors += 1
            result |= {
                "category": None,
                "confidence": None,
                "keywords": [],
                "alternatives": [],
                "priority": None,
                "signals": [],
            }
        else:
            done += 1
        out.write(_format(result, fmt) + "\n")
        out.flush()
    return done, errors


def _format(result: dict[str, Any], fmt: str) -> str:
    if fmt == "jsonl":
        return json.dumps(result, ensure_ascii=False)
    if "error" in result:
        return f"{result['line']}\terror: {result['error']}"
    words = ", ".join(f"{k['word']}({k['weight']:+g})" for k in result["keywords"]) or "-"
    flags = ", ".join(f"{s['flag']}:{'/'.join(s['words'])}" for s in result["signals"]) or "-"
    alternatives = ", ".join(a["category"] for a in result["alternatives"][:3]) or "-"
    return (
        f"{result['line']}\t{result['category']}\t{result['confidence']:.2f}\t"
        f"priority {result['priority']}\twords {words}\tflags {flags}\tor {alternatives}"
    )


@click.command("classify")
@click.option("--taxonomy", "taxonomy_name", help="Preset or file; default KESU_TAXONOMY.")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "text"]), default="jsonl", show_default=True
)
def classify_cmd(taxonomy_name: str | None, fmt: str) -> None:
    """Classify complaints read from stdin, one per line.

    Writes one line per input line, in order: a JSON object with category, confidence,
    keywords (why), alternatives, priority, severity and signals; or, for an empty or
    non-UTF-8 line, an object with "error" and a null category. Example:

        echo '快递员态度恶劣,还多收了我二十元' | kesu classify --format text
    """
    settings = _settings()
    classifier = _load(taxonomy_name or settings.taxonomy, settings.cache_dir)
    classify_stream(classifier, sys.stdin.buffer, sys.stdout, fmt)


@click.group()
def taxonomy() -> None:
    """Complaint taxonomies (投诉分类表): check, learn from history, evaluate."""


@taxonomy.command("list")
def taxonomy_list() -> None:
    """The presets shipped with kesu (use the name wherever a FILE is asked)."""
    from bot.nlp.taxonomy import PRESETS, load_taxonomy, preset_path
    from bot.nlp.text import Normaliser

    normalise = Normaliser()
    for name in PRESETS:
        t = load_taxonomy(preset_path(name), normalise)
        click.echo(f"{name:<18} {t.taxonomy.name_zh} / {t.taxonomy.name_en}: {', '.join(t.ids)}")


@taxonomy.command("check")
@click.argument("file")
def taxonomy_check(file: str) -> None:
    """Validate a taxonomy FILE (or preset name) and print its categories.

    Unknown keys, duplicate keywords, empty categories and bad weights are reported with
    their line numbers, all at once.
    """
    from bot.nlp.taxonomy import load_taxonomy, resolve
    from bot.nlp.text import Normaliser

    try:
        t = load_taxonomy(resolve(file), Normaliser())
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    total = sum(len(c.keywords) + len(c.negative) for c in t.category)
    click.echo(
        f"{file}: OK, {len(t.category)} categories, {total} keywords, "
        f"fallback {t.taxonomy.fallback}, min_confidence {t.taxonomy.min_confidence}"
    )
    for c in t.category:
        strongest = sorted(c.keywords.items(), key=lambda kv: -kv[1])[:5]
        sample = ", ".join(w for w, _ in strongest) or "-"
        click.echo(
            f"  {c.id:<16} {c.name_zh} / {c.name_en}: {len(c.keywords)} words "
            f"(+{len(c.negative)} negative), e.g. {sample}"
        )


@taxonomy.command("learn")
@click.option(
    "--train",
    "train",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="text<TAB>label lines, UTF-8, no header.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the learned taxonomy (TOML).",
)
@click.option("--base", "base", help="Taxonomy whose names, owners and words to keep.")
@click.option(
    "--max-keywords",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Strongest words kept per category.",
)
@click.option(
    "--min-count",
    default=2,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="A word must occur in this many complaints to be learned.",
)
def taxonomy_learn(
    train: Path, out: Path, base: str | None, max_keywords: int, min_count: int
) -> None:
    """Mine keyword weights from a desk's labelled past complaints.

    The labels become the categories; the output is an ordinary, editable taxonomy file.
    """
    from bot.nlp.learn import learn, read_tsv
    from bot.nlp.taxonomy import dump_taxonomy, load_taxonomy, resolve
    from bot.nlp.text import Normaliser, TextTools

    settings = _settings()
    try:
        examples, skipped = read_tsv(train)
        for message in skipped[:20]:
            click.echo(f"skipped {message}", err=True)
        if len(skipped) > 20:
            click.echo(f"skipped {len(skipped) - 20} more lines", err=True)
        base_taxonomy = load_taxonomy(resolve(base), Normaliser()) if base else None
        words = (
            [w for c in base_taxonomy.category for w in (*c.keywords, *c.negative)]
            if base_taxonomy
            else []
        )
        tools = TextTools(settings.cache_dir, extra_words=words)
        learned = learn(
            examples, tools, base=base_taxonomy, max_keywords=max_keywords, min_count=min_count
        )
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    header = (
        f"Learned by `kesu taxonomy learn` from {train.name}: {len(examples)} complaints.\n"
        "Edit freely: weights are log-odds; the higher, the more a word points to its "
        "category.\nCheck with: kesu taxonomy check FILE"
    )
    out.write_text(dump_taxonomy(learned, header), encoding="utf-8")
    click.echo(
        f"wrote {out}: {len(learned.category)} categories from {len(examples)} "
        f"complaints ({len(skipped)} lines skipped)"
    )
    for c in learned.category:
        click.echo(f"  {c.id:<16} {len(c.keywords)} words, {len(c.negative)} negative")


@taxonomy.command("eval")
@click.option(
    "--test",
    "test",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="text<TAB>label lines, UTF-8, no header.",
)
@click.option("--taxonomy", "taxonomy_name", help="Preset or file; default KESU_TAXONOMY.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def taxonomy_eval(test: Path, taxonomy_name: str | None, as_json: bool) -> None:
    """Accuracy, macro-F1, per-category figures and the confusion matrix on labelled data.

    A suggestion outside the test labels (e.g. the fallback "other") counts as a miss.
    """
    from bot.nlp.learn import evaluate, read_tsv

    settings = _settings()
    classifier = _load(taxonomy_name or settings.taxonomy, settings.cache_dir)
    try:
        examples, skipped = read_tsv(test)
        result = evaluate(classifier, examples)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    for message in skipped[:20]:
        click.echo(f"skipped {message}", err=True)
    if as_json:
        click.echo(json.dumps(result.__dict__, ensure_ascii=False))
    else:
        _print_evaluation(result)


def _print_evaluation(e: Evaluation) -> None:
    click.echo(f"complaints  {e.count}")
    click.echo(f"accuracy    {e.accuracy:.4f}")
    click.echo(f"macro-F1    {e.macro_f1:.4f}")
    click.echo("\ncategory          precision  recall  F1      support")
    for label, (p, r, f, s) in e.per_class.items():
        click.echo(f"{label:<16}  {p:9.3f}  {r:6.3f}  {f:6.3f}  {s:7d}")
    width = max(len(c) for c in e.columns) + 1
    click.echo("\nconfusion matrix (rows: true, columns: suggested)")
    click.echo(" " * width + "".join(f"{c[: width - 1]:>{width}}" for c in e.columns))
    for label, row in zip(e.labels, e.confusion, strict=True):
        click.echo(f"{label:<{width}}" + "".join(f"{v:>{width}}" for v in row))

"""Speed of `classify` against bare `jieba.lcut` on the same real complaint texts.

Prints JSON:
- messages/s of bare jieba.lcut, of Classifier.classify and of analyse (classify + signals),
  measured interleaved over several rounds on the same texts; medians and the median ratio
  (goal: classify >= 0.8 x bare jieba);
- p50/p99 latency of one classify call on a 500-character complaint;
- start-up time of loading the default taxonomy in a fresh process, cold (empty jieba cache)
  and warm (cache present).
Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jieba

from bot.nlp.analyse import analyse
from bot.nlp.classifier import Classifier

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def texts() -> list[str]:
    out: list[str] = []
    for name in ("complaints_4class_dev.tsv", "complaints_4class_test.tsv"):
        lines = (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines()
        out.extend(line.rsplit("\t", 1)[0] for line in lines)
    return out


def rate(fn, items: list[str]) -> float:
    start = time.perf_counter()
    for t in items:
        fn(t)
    return len(items) / (time.perf_counter() - start)


def startup(cache_dir: Path) -> float:
    code = (
        "import time, sys; from pathlib import Path; t = time.perf_counter();"
        "from bot.nlp.classifier import Classifier;"
        "Classifier.load('default', Path(sys.argv[1])).classify('快递员态度恶劣');"
        "print(time.perf_counter() - t)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(cache_dir)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


def main() -> None:
    items = texts()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        cold = startup(cache)
        warm = statistics.median(startup(cache) for _ in range(3))
        classifier = Classifier.load("default", cache)
    jieba.setLogLevel(60)
    jieba.initialize()
    for t in items[:50]:  # warm both paths up
        jieba.lcut(t)
        classifier.classify(t)

    rounds = []
    for _ in range(ROUNDS):
        bare = rate(jieba.lcut, items)
        ours = rate(classifier.classify, items)
        full = rate(lambda t: analyse(classifier, t), items)
        rounds.append((bare, ours, full))

    long_text = ""
    for t in items:
        if len(long_text) >= 500:
            break
        long_text += t
    long_text = long_text[:500]
    latencies = []
    for _ in range(2000):
        start = time.perf_counter()
        classifier.classify(long_text)
        latencies.append(time.perf_counter() - start)
    latencies.sort()

    mean_chars = statistics.mean(len(t) for t in items)
    result = {
        "benchmark": "classify",
        "texts": len(items),
        "mean_chars": round(mean_chars, 1),
        "rounds": ROUNDS,
        "bare_jieba_lcut_msgs_per_s_median": round(statistics.median(r[0] for r in rounds)),
        "classify_msgs_per_s_median": round(statistics.median(r[1] for r in rounds)),
        "analyse_msgs_per_s_median": round(statistics.median(r[2] for r in rounds)),
        "classify_over_bare_jieba_median_ratio": round(
            statistics.median(r[1] / r[0] for r in rounds), 3
        ),
        "analyse_over_bare_jieba_median_ratio": round(
            statistics.median(r[2] / r[0] for r in rounds), 3
        ),
        "classify_500_chars_p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "classify_500_chars_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "startup_cold_s": round(cold, 3),
        "startup_warm_s_median": round(warm, 3),
    }
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()

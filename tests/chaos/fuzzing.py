"""Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan) and runs
each for a bounded time. Every input kept under fuzz/regressions/<target>/
(crashers found earlier) is replayed first; a new crash fails the check and
leaves its input in build-fuzz/crashes/<target>/ to be committed there."""

import glob
import os
import re
import shutil
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FUZZ = os.path.join(ROOT, "fuzz")
BUILD = os.environ.get("FUZZ_BUILD_DIR", os.path.join(ROOT, "build-fuzz"))
TARGETS = ["http_request", "stripe_signature", "api_input", "schedule", "settings"]


def build():
    env = dict(os.environ, CXX="clang++", CC="clang")
    subprocess.run(["cmake", "-S", FUZZ, "-B", BUILD, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], env=env, check=True,
                   capture_output=True, text=True, timeout=300)
    out = subprocess.run(["cmake", "--build", BUILD, "-j2"], env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError("fuzz build failed:\n" + out.stdout[-3000:] + out.stderr[-3000:])


def run_target(name, seconds):
    binary = os.path.join(BUILD, "fuzz_" + name)
    corpus = os.path.join(BUILD, "corpus", name)
    crashes = os.path.join(BUILD, "crashes", name)
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(crashes, exist_ok=True)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    regressions = sorted(glob.glob(os.path.join(FUZZ, "regressions", name, "*")))
    if regressions:
        replay = subprocess.run([binary] + regressions, env=env, capture_output=True, text=True, timeout=300)
        if replay.returncode != 0:
            return {"replayed": len(regressions), "runs": 0, "crashed": True, "log": replay.stderr[-2000:]}
    seeds = os.path.join(FUZZ, "seeds", name)
    args = [binary, "-max_total_time=%d" % seconds, "-timeout=10", "-rss_limit_mb=1024", "-max_len=65536",
            "-print_final_stats=1", "-artifact_prefix=" + crashes + "/", corpus]
    if os.path.isdir(seeds):
        args.append(seeds)
    started = time.monotonic()
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds + 300)
    took = time.monotonic() - started
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out.stderr)
    cov = re.findall(r"cov: (\d+)", out.stderr)
    return {"replayed": len(regressions), "runs": int(runs.group(1)) if runs else 0, "seconds": took,
            "cov": int(cov[-1]) if cov else 0, "corpus": len(os.listdir(corpus)),
            "crashed": out.returncode != 0, "log": out.stderr[-2000:],
            "artifacts": sorted(os.listdir(crashes))}


def fuzz_targets(report, quick):
    scenario = "libFuzzer"
    seconds = 5 if quick else 30
    if not shutil.which("clang++"):
        report.check(scenario, "-", "clang++ is installed (scripts/setup installs clang)", False, "not found")
        return
    started = time.monotonic()
    build()
    build_s = time.monotonic() - started
    lines = []
    for name in TARGETS:
        r = run_target(name, seconds)
        what = "fuzz_%s, %d s, ASan + UBSan" % (name, seconds)
        figure = "%s runs (%.0f/s), coverage %d edges, corpus %d, %d regression inputs replayed" % (
            "{:,}".format(r["runs"]), r["runs"] / max(r.get("seconds", 1), 0.001), r.get("cov", 0),
            r.get("corpus", 0), r["replayed"])
        if r["crashed"]:
            figure += "; CRASH: " + " ".join(r.get("artifacts", [])) + " " + r["log"][-300:].replace("\n", " ")
        report.check(scenario, what, "no crash, leak, hang or undefined behaviour", not r["crashed"] and r["runs"] > 0,
                     figure)
        lines.append("| `fuzz_%s` | %s | %d | %d |" % (name, "{:,}".format(r["runs"]), r.get("cov", 0),
                                                    r.get("corpus", 0)))
    report.section("Fuzzing", (
        "Each target in `fuzz/` compiles only the sources it exercises with clang's "
        "`-fsanitize=fuzzer,address,undefined` (build: %.0f s here) and starts from `fuzz/seeds/<target>/` "
        "plus the corpus it grew in earlier runs. Inputs in `fuzz/regressions/<target>/` are replayed "
        "before fuzzing.\n\n"
        "```sh\nCXX=clang++ cmake -S fuzz -B build-fuzz && cmake --build build-fuzz -j2\n"
        "build-fuzz/fuzz_http_request -max_total_time=%d build-fuzz/corpus/http_request fuzz/seeds/http_request\n"
        "```\n\n| target | executions | coverage (edges) | corpus |\n|---|---:|---:|---:|\n" % (build_s, seconds)
        + "\n".join(lines)))

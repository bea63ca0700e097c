"""Bench of the comparison and the gate: speed, simulated operating characteristics, live proof.

Run by hand (not by pytest)::

    python bench/bench_stats.py                 # speed + simulation (about a minute)
    GOPERF_TOOLCHAINS=/opt/gotoolchains python bench/bench_stats.py --live 4   # + the example service

1. Speed: ``compare()`` (two one-sided exact Mann-Whitney tests, Hodges-Lehmann
   shift and its exact interval) against what a user would otherwise write: two
   ``scipy.stats.mannwhitneyu(method="exact")`` calls plus a numpy HL estimate
   (without an interval, which scipy does not offer). ``gate()`` over 30 metrics
   against ``scipy.stats.false_discovery_control``.
2. Simulation: false alarms per gate run with no change (A/A) and detection of a
   15 % shift, 5+5 rounds, for both effect rules.
3. ``--live K``: the example service, K repetitions of: a baseline session (5
   rounds), an A/A session (5 rounds, same binary and flags) and an A/B session
   (5 rounds with ``-extra-cpu=0.15``: 15 % more work in main.hashPayload). A round
   is a closed-model load on /work with a CPU profile of the same window; its
   metrics are the flat shares of main.hashPayload and main.spinCore, CPU time per
   request and throughput. Each session is gated against its baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from scipy import stats as sp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from pytest_goperf.comparison.stats import ComparisonPolicy, Status, compare, gate


def _timeit(fn, repeat: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def bench_speed() -> None:
    rng = np.random.default_rng(0)
    b, c = rng.lognormal(0, 0.03, 5), rng.lognormal(0.14, 0.03, 5)
    policy = ComparisonPolicy("x", log_scale=True)

    def scipy_way() -> None:
        sp.mannwhitneyu(c, b, alternative="greater", method="exact")
        sp.mannwhitneyu(c, b, alternative="less", method="exact")
        np.exp(np.median(np.subtract.outer(np.log(c), np.log(b))))

    ours = _timeit(lambda: compare(b, c, policy), 2000)
    theirs = _timeit(scipy_way, 500)
    print(f"compare 5+5 rounds:  ours {ours * 1e6:8.1f} us   scipy mannwhitneyu x2 + numpy HL {theirs * 1e6:8.1f} us   "
          f"ratio {theirs / ours:.1f}x (ours does more: exact interval, verdict)")
    cmps = [compare(rng.lognormal(0, 0.03, 5), rng.lognormal(0, 0.03, 5), policy) for _ in range(30)]
    ps = [x.p_value for x in cmps]
    g = _timeit(lambda: gate(cmps), 500)
    f = _timeit(lambda: sp.false_discovery_control(ps), 500)
    print(f"gate of 30 metrics:  ours {g * 1e6:8.1f} us   scipy false_discovery_control {f * 1e6:8.1f} us   "
          f"ratio {f / g:.2f}x (ours also decides and explains each verdict)")


def _runs(rng, runs, n_metrics, shifted, factor, cv, rule):
    alarms = found = 0
    policy = ComparisonPolicy("x", min_effect_rel=0.05, log_scale=True)
    for _ in range(runs):
        cmps = [compare(np.exp(rng.normal(0, cv, 5)), np.exp(rng.normal(np.log(factor) if j in shifted else 0, cv, 5)), policy)
                for j in range(n_metrics)]
        flagged = {i for i, v in enumerate(gate(cmps, effect_rule=rule).verdicts) if v.status is Status.REGRESSED}
        alarms += bool(flagged - set(shifted))
        found += bool(shifted) and set(shifted) <= flagged
    return alarms / runs, found / runs


def bench_simulation() -> None:
    rng = np.random.default_rng(1)
    print("\nsimulated, 5+5 rounds, floor 5 %, BH at 0.05, gates of 10 metrics (log-normal noise):")
    print(f"{'rule':9} {'noise':>5}  {'A/A false alarms/run':>20}  {'15% found alone':>15}  {'15% found, 1 of 10':>18}")
    for rule in ("bound", "estimate"):
        for cv in (0.03, 0.05):
            aa, _ = _runs(rng, 2000, 10, (), 1.0, cv, rule)
            _, alone = _runs(rng, 1000, 1, (0,), 1.15, cv, rule)
            _, among = _runs(rng, 1000, 10, (3,), 1.15, cv, rule)
            print(f"{rule:9} {cv:5.0%}  {aa:20.4f}  {alone:15.3f}  {among:18.3f}")


# ---------------------------------------------------------------------------- live

METRICS = {
    "share:main.hashPayload": ComparisonPolicy("share:main.hashPayload", "share", "higher", 0.05, None, True),
    "share:main.spinCore": ComparisonPolicy("share:main.spinCore", "share", "higher", 0.05, None, True),
    "cpu_per_request": ComparisonPolicy("cpu_per_request", "ms", "higher", 0.05, None, True),
    "throughput": ComparisonPolicy("throughput", "req/s", "lower", 0.05, None, True),
}


def _round(base: str, seconds: float) -> dict[str, float]:
    from pytest_goperf.analysis.functions import profile_table
    from pytest_goperf.formats.profile._decode import read_profile
    from pytest_goperf.load.engine import run_load
    from pytest_goperf.load.scenario import ClosedModel

    box: dict[str, bytes] = {}

    def grab() -> None:
        with urllib.request.urlopen(f"{base}/debug/pprof/profile?seconds={seconds:g}", timeout=seconds + 30) as r:
            box["p"] = r.read()

    t = threading.Thread(target=grab)
    t.start()
    res = run_load(base, "/work?n=2000", model=ClosedModel(2), duration=seconds, timeout=10.0)
    t.join(seconds + 40)
    table = profile_table(read_profile(box["p"]))
    rate = res.completed / res.elapsed
    cpu_ms = table.total / 1e6  # cpu nanoseconds in the profile
    return {
        "share:main.hashPayload": table.hot_share("main.hashPayload"),
        "share:main.spinCore": table.hot_share("main.spinCore"),
        "cpu_per_request": cpu_ms / (rate * seconds),
        "throughput": rate,
    }


def _session(binary: Path, extra: float, rounds: int, seconds: float) -> dict[str, list[float]]:
    import samplekit

    out: dict[str, list[float]] = {k: [] for k in METRICS}
    with samplekit.run_service(binary, ["-extra-cpu", str(extra)]) as base:
        from pytest_goperf.load.engine import run_load
        from pytest_goperf.load.scenario import ClosedModel

        run_load(base, "/work?n=2000", model=ClosedModel(2), duration=1.0)  # warm-up
        for _ in range(rounds):
            for k, v in _round(base, seconds).items():
                out[k].append(v)
    return out


def bench_live(reps: int, rounds: int = 5, seconds: float = 2.0) -> None:
    import samplekit

    go = Path(samplekit.toolchain(samplekit.GO_RELEASES["1.26"]))
    with tempfile.TemporaryDirectory() as tmp:
        binary = samplekit.build_service(go, Path(tmp) / "svc")
        aa_alarms = ab_found = 0
        cvs: dict[str, list[float]] = {k: [] for k in METRICS}
        for rep in range(reps):
            base = _session(binary, 0.0, rounds, seconds)
            for k, v in base.items():
                cvs[k].append(float(np.std(v, ddof=1) / np.mean(v)))
            for label, extra in (("A/A", 0.0), ("A/B +15% hashPayload", 0.15)):
                cur = _session(binary, extra, rounds, seconds)
                res = gate([compare(base[k], cur[k], p) for k, p in METRICS.items()])
                print(f"\nrep {rep + 1} {label}: failed={res.failed}")
                for v in res.verdicts:
                    c = v.comparison
                    print(f"  {v.metric:24} {c.baseline_median:10.4g} -> {c.current_median:10.4g} "
                          f"({c.relative_change * 100:+6.1f}%)  {v.status.value:15} p={c.p_value:.3g}")
                if extra == 0.0:
                    aa_alarms += res.failed
                else:
                    ab_found += any(v.metric == "share:main.hashPayload" and v.status is Status.REGRESSED for v in res.verdicts)
        print(f"\nlive: A/A false alarms {aa_alarms}/{reps}; hashPayload regression found {ab_found}/{reps}")
        print("round-to-round noise (CV) in baseline sessions: " + ", ".join(f"{k} {np.median(v):.3f}" for k, v in cvs.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--live", type=int, default=0, metavar="K", help="also run K live A/A + A/B repetitions")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulation")
    args = ap.parse_args()
    bench_speed()
    if not args.no_sim:
        bench_simulation()
    if args.live:
        bench_live(args.live)


if __name__ == "__main__":
    main()

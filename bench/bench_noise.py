"""The gate beside a noisy neighbour: false alarms and detection, stored baselines against the same-run A/B gate.

A neighbour process on the same cores (one busy worker per core) changes its
duty cycle every half second (uniform 10..95 %, seeded), as another job on a
shared CI runner would. The example service's -extra-cpu knob adds work to
main.hashPayload (+5 %, +10 %, +15 %); A/A runs add none.

* A/B mode: the base (knob 0) and the head (knob X) run side by side; each gate
  run is ``--pairs`` pairs scheduled ``interleaved`` (ABBA) or ``duet`` (both at
  once), measured with the plugin's own measure_pair. The same rounds are judged
  two ways: paired (exact signed-rank, the default) and unpaired (Mann-Whitney).
* Stored mode: one baseline recorded on the quiet machine (no neighbour), then
  each gate run is a new session (the service restarted) beside the neighbour,
  compared with the baseline as the plugin does without --goperf-compare-to.

A gate run raises a false alarm when any gated metric "regressed" at A/A, and
catches a change when any gated metric regressed at +X. Counts are printed per
metric and for the family (BH at alpha 0.05 over the gated metrics).

    python bench/bench_noise.py --runs 20                   # everything, about an hour
    python bench/bench_noise.py --runs 4 --modes ab-interleaved --effects 0,0.15   # a quick look
    python bench/bench_noise.py --load results.json        # re-analyse saved rounds

Raw per-round values are saved (``--save``) so other analyses can be run on
the same rounds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_goperf import (
    ClosedModel,
    ComparisonPolicy,
    MeasureSpec,
    Request,
    Scenario,
    ServiceSpec,
    Status,
    compare,
    gate,
    get_metric,
    measure,
    start_service,
)
from pytest_goperf.comparison.samples import policy_for
from pytest_goperf.comparison.stats import compare_paired
from pytest_goperf.comparison.verdict import BaseInfo, MetricSample, TestMeasurement, evaluate_pairs, pairs_decision
from pytest_goperf.runtime.build import build_binary
from pytest_goperf.runtime.measure import measure_pair

REPO = Path(__file__).resolve().parent.parent
METRICS = ["proc_cpu_per_request", "cpu_per_request", "cpu_per_request:main.hashPayload", "hot_share:main.hashPayload",
           "runnable.p99", "latency.p99", "throughput"]
#: The families judged: the code metrics the gate defaults to, and with a latency metric added.
FAMILIES = {
    "proc": ["proc_cpu_per_request"],
    "share": ["hot_share:main.hashPayload"],
    "proc+share": ["proc_cpu_per_request", "hot_share:main.hashPayload"],
    "proc+runnable": ["proc_cpu_per_request", "runnable.p99"],
    "cpu": ["proc_cpu_per_request", "cpu_per_request:main.hashPayload"],
    "cpu+latency": ["proc_cpu_per_request", "cpu_per_request:main.hashPayload", "latency.p99"],
}


# ----------------------------------------------------------------------------------------- the neighbour

def _busy(seed: int, stop: mp.synchronize.Event) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        duty = rng.uniform(0.10, 0.95)
        until = time.monotonic() + 0.5
        while time.monotonic() < until and not stop.is_set():
            t0 = time.monotonic()
            while time.monotonic() - t0 < duty * 0.01:
                pass
            time.sleep((1 - duty) * 0.01)


class Neighbour:
    """One busy worker per core whose duty cycle changes every 0.5 s."""

    def __init__(self, workers: int, seed: int) -> None:
        self.stop = mp.Event()
        self.procs = [mp.Process(target=_busy, args=(seed + i, self.stop), daemon=True) for i in range(workers)]

    def __enter__(self) -> Neighbour:
        for p in self.procs:
            p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(5)


# ----------------------------------------------------------------------------------------- measuring

def _spec(rounds: int, window: float) -> MeasureSpec:
    return MeasureSpec(load=Scenario([Request("GET", "/work?n=2000")]), model=ClosedModel(2), rounds=rounds,
                       window=window, warmup=0.5, warmup_rounds=0, track=tuple(METRICS), check_leaks=False)


def _start(binary: Path, extra: float, work: Path):
    args = ("-addr", "{addr}", "-extra-cpu", f"{extra:g}")
    return start_service(ServiceSpec(binary=binary, args=args), work / f"svc-{extra:g}-{time.time_ns()}.log")


def _values(m) -> dict[str, list[float | None]]:
    return {name: m.round_values(name) for name in METRICS}


def ab_runs(binary: Path, extra: float, schedule: str, runs: int, pairs: int, window: float, work: Path) -> list[dict]:
    head, base = _start(binary, extra, work), _start(binary, 0.0, work)
    out = []
    try:
        for i in range(runs):
            t0 = time.monotonic()
            m = measure_pair(head, base, _spec(pairs, window), directory=work / f"ab-{schedule}-{extra}-{i}",
                             schedule=schedule)
            assert m.base is not None
            out.append({"head": _values(m), "base": _values(m.base), "seconds": time.monotonic() - t0})
            print(f"  {schedule} +{extra:.0%} run {i + 1}/{runs}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        head.stop()
        base.stop()
    return out


def stored_runs(binary: Path, extra: float, runs: int, rounds: int, window: float, work: Path) -> list[dict]:
    out = []
    for i in range(runs):
        svc = _start(binary, extra, work)  # a new session: a restarted service beside the neighbour
        try:
            t0 = time.monotonic()
            m = measure(svc, _spec(rounds, window), directory=work / f"stored-{extra}-{i}")
            out.append({"head": _values(m), "seconds": time.monotonic() - t0})
            print(f"  stored +{extra:.0%} run {i + 1}/{runs}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        finally:
            svc.stop()
    return out


# ----------------------------------------------------------------------------------------- judging

def _pairs(head: list, base: list) -> tuple[list[float], list[float]]:
    both = [(h, b) for h, b in zip(head, base, strict=False) if h is not None and b is not None]
    return [b for _, b in both], [h for h, _ in both]


def judge(run: dict, family: list[str], analysis: str, baseline: dict | None = None) -> dict[str, Status]:
    comparisons = []
    for name in family:
        policy = ComparisonPolicy.of(get_metric(name))
        head = run["head"][name]
        if baseline is not None:
            b = [v for v in baseline[name] if v is not None]
            comparisons.append(compare(b, [v for v in head if v is not None], policy, 0.05, test=name))
        elif analysis == "paired":
            b, h = _pairs(head, run["base"][name])
            comparisons.append(compare_paired(b, h, policy, 0.05, test=name))
        else:
            b, h = _pairs(head, run["base"][name])
            comparisons.append(compare(b, h, policy, 0.05, test=name))
    result = gate(comparisons, alpha=0.05, method="bh")
    return {v.metric: v.status for v in result.verdicts}


def judge_sequential(run: dict, family: list[str], batch: int, looks: int, paired: bool = True,
                     rule: str = "bound") -> tuple[bool, int]:
    """The plugin's sequential same-run gate on one saved run: (regressed, pairs used).

    Looks after ``batch``, 2*``batch``, ... pairs (prefixes of the saved pairs,
    as the plugin takes them), each judged by ``evaluate_pairs`` at alpha/looks;
    stops at the first look ``pairs_decision`` calls final. ``paired``: the
    same-run floors (the plugin's); False: the stored-baseline floors.
    """
    info = BaseInfo("base", None)
    for k in range(1, looks + 1):
        n = batch * k
        head_s, base_s = {}, {}
        for name in family:
            policy = policy_for(name, paired=paired)
            b, h = _pairs(run["head"][name][:n], run["base"][name][:n])
            head_s[name], base_s[name] = MetricSample(policy, tuple(h)), MetricSample(policy, tuple(b))
        ev = evaluate_pairs(TestMeasurement("t", head_s), TestMeasurement("t", base_s), base_info=info,
                            alpha=0.05, method="bh", looks=looks, effect_rule=rule)
        decision = pairs_decision(ev)
        if decision != "undecided" or k == looks:
            return decision == "regressed", n
    raise AssertionError("unreachable")


def sequential_table(results: dict, runs_key: str, looks_options: list[int]) -> list[str]:
    """Counts of the sequential gate (the plugin's default design) on the saved interleaved runs."""
    lines = []
    total = results["config"]["pairs"]
    variants = [("same-run floors", True, "bound"), ("stored floors", False, "bound"),
                ("same-run, estimate rule", True, "estimate")]
    for looks in looks_options:
        if total % looks:
            continue
        batch = total // looks
        for family_name in ("proc", "proc+runnable", "cpu"):
            for label, paired, rule in variants:
                cells = []
                for effect, runs in sorted(results[runs_key].items(), key=lambda kv: float(kv[0])):
                    outcomes = [judge_sequential(r, FAMILIES[family_name], batch, looks, paired, rule) for r in runs]
                    hits = sum(hit for hit, _ in outcomes)
                    used = statistics.median(n for _, n in outcomes)
                    what = "false alarms" if float(effect) == 0 else f"caught +{float(effect):.0%}"
                    cells.append(f"{what} {hits}/{len(runs)} (median {used:g} pairs)")
                lines.append(f"  {runs_key:<16} sequential {looks}x{batch} gate={family_name:<13} {label:<24} "
                             + "; ".join(cells))
    return lines


def table(results: dict, runs_key: str, analyses: list[str], baseline: dict | None = None) -> list[str]:
    lines = []
    by_effect = results[runs_key]
    for family_name, family in FAMILIES.items():
        for analysis in analyses:
            cells = []
            for effect, runs in sorted(by_effect.items(), key=lambda kv: float(kv[0])):
                verdicts = [judge(r, family, analysis, baseline) for r in runs]
                hits = sum(any(s is Status.REGRESSED for s in v.values()) for v in verdicts)
                per = ", ".join(f"{m.split(':')[-1]} {sum(v[m] is Status.REGRESSED for v in verdicts)}"
                                for m in family)
                what = "false alarms" if float(effect) == 0 else f"caught +{float(effect):.0%}"
                cells.append(f"{what} {hits}/{len(runs)} ({per})")
            lines.append(f"  {runs_key:<16} {analysis:<9} gate={family_name:<12} " + "; ".join(cells))
    return lines


def spread(results: dict, runs_key: str) -> list[str]:
    """Per metric: the median and spread (min..max over runs) of the A/A head/base ratio or of the stored values."""
    lines = []
    aa = results[runs_key].get("0.0") or results[runs_key].get("0")
    if not aa:
        return lines
    for name in METRICS:
        if "base" in aa[0]:
            ratios = []
            for r in aa:
                b, h = _pairs(r["head"][name], r["base"][name])
                if b:
                    ratios.append(statistics.median(hh / bb for hh, bb in zip(h, b, strict=True) if bb))
            if ratios:
                lines.append(f"  {runs_key:<16} A/A {name:<34} median head/base per run {min(ratios):.3f}..{max(ratios):.3f}")
        else:
            meds = [statistics.median(v for v in r["head"][name] if v is not None) for r in aa]
            lines.append(f"  {runs_key:<16} A/A {name:<34} session medians {min(meds):.4g}..{max(meds):.4g}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="gate runs per mode and effect")
    ap.add_argument("--pairs", type=int, default=8, help="pairs (A/B) or rounds (stored) per gate run")
    ap.add_argument("--window", type=float, default=1.0)
    ap.add_argument("--effects", default="0,0.05,0.10,0.15")
    ap.add_argument("--modes", default="ab-interleaved,ab-duet,stored")
    ap.add_argument("--save", type=Path)
    ap.add_argument("--load", type=Path, help="analyse saved rounds instead of measuring")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    if args.load:
        results = json.loads(args.load.read_text())
    else:
        effects = [float(e) for e in args.effects.split(",")]
        modes = args.modes.split(",")
        work = Path(tempfile.mkdtemp(prefix="goperf-bench-noise-"))
        binary = build_binary(REPO / "examples" / "go-service", work / "bin").path
        results: dict = {"config": vars(args) | {"save": str(args.save), "load": None}}
        t_start = time.monotonic()
        if "stored" in modes:
            print("recording the stored baseline on the quiet machine", file=sys.stderr)
            results["baseline"] = stored_runs(binary, 0.0, 1, args.pairs, args.window, work)[0]["head"]
        with Neighbour(mp.cpu_count(), args.seed):
            for mode in modes:
                results[mode] = {}
                for effect in effects:
                    if mode == "stored":
                        results[mode][str(effect)] = stored_runs(binary, effect, args.runs, args.pairs, args.window, work)
                    else:
                        results[mode][str(effect)] = ab_runs(binary, effect, mode.removeprefix("ab-"), args.runs,
                                                             args.pairs, args.window, work)
                    if args.save:  # after every effect: an interrupted bench keeps what it measured
                        args.save.write_text(json.dumps(results))
        results["wall_seconds"] = time.monotonic() - t_start
        if args.save:
            args.save.write_text(json.dumps(results))
    print(f"gate runs beside a neighbour with a changing duty cycle, {results['config']['pairs']} pairs/rounds of "
          f"{results['config']['window']:g} s; BH at alpha 0.05 over the gated metrics")
    for mode in ("ab-interleaved", "ab-duet"):
        if mode in results:
            print("\n".join(table(results, mode, ["paired", "unpaired"])))
            print("\n".join(sequential_table(results, mode, [1, 2, 3, 4])))
            secs = [r["seconds"] for runs in results[mode].values() for r in runs]
            print(f"  {mode:<16} wall time of one gate run: median {statistics.median(secs):.1f} s")
    if "stored" in results:
        print("\n".join(table(results, "stored", ["unpaired"], results["baseline"])))
        secs = [r["seconds"] for runs in results["stored"].values() for r in runs]
        print(f"  {'stored':<16} wall time of one gate run: median {statistics.median(secs):.1f} s")
    for mode in ("ab-interleaved", "ab-duet", "stored"):
        if mode in results:
            print("\n".join(spread(results, mode)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

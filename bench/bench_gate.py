"""Proof that the regression gate works: false alarms (A/A) and detection of a 15 % CPU change.

Runs the example service three times: twice unchanged (A1, A2: separate
processes, as a baseline and a later CI run would be) and once with
``-extra-cpu 0.15`` (B: 15 % more work in main.hashPayload). Each run gives a
pool of measurement rounds under the same closed-model load; the rounds of the
three are taken in turn (A1, A2, B, A1, ...), so that a change in the shared
machine's load does not pass for a regression of one pool. Gate runs then
draw 5 baseline + 5 current rounds from the pools:

- A/A: baseline from A1, current from A2 -> every "regressed" is a false alarm;
- A/B: baseline from A1 or A2, current from B -> the change should be flagged.

Each gate run compares the gated metrics with the plugin's own code
(``pytest_goperf.compare`` + ``gate``, Benjamini-Hochberg at alpha 0.05,
the catalogue's effect floors). Draws from one pool overlap, so the gate runs
are not independent: the rates are estimates from a pool of real rounds.

    python bench/bench_gate.py [--rounds 15] [--window 3] [--draws 200] [--save pools.json]
    python bench/bench_gate.py --pools pools.json      # re-analyse saved pools without measuring
    python bench/bench_gate.py --scenario checkout     # a region metric against request latency

``--scenario checkout`` loads the annotated route ``/checkout?items=3&db_ms=2``
instead: a request sleeps 3 x 2 ms in its ``db.query`` regions and spends some
30 us in its ``price`` region (main.hashPayload, the function ``-extra-cpu``
inflates). The same +15 % of work moves ``region_p50:price`` by about 15 % and
the request latency by well under 1 %: the region metric gates the change, the
latency cannot (the point of region metrics: they are not diluted by the rest
of the request).
"""

from __future__ import annotations

import argparse
import json
import random
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
from pytest_goperf.runtime.build import build_binary

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "work": ("/work?n=2000", [
        "cpu_per_request:main.hashPayload",  # the changed function's CPU per request
        "hot_share:main.hashPayload",  # its share of the CPU profile
        "cpu_per_request",  # the service's CPU per request
    ], ["throughput", "latency.p99", "runnable.p99"]),
    "checkout": ("/checkout?items=3&db_ms=2", [
        "region_p50:price",  # the region around main.hashPayload
        "latency.p50",  # the whole request
        "latency.p99",
    ], ["region_p99:price", "region_p50:db.query", "task_p50:checkout", "throughput"]),
}
PATH, GATED, _EXTRA = SCENARIOS["work"]
RECORDED = GATED + _EXTRA


def pools(binary: Path, rounds: int, window: float, workdir: Path) -> list[dict[str, list[float]]]:
    """A1, A2 (unchanged) and B (-extra-cpu 0.15) pools, measured round by round in turn.

    The three services run side by side (an idle one costs nothing) and each round of
    each is measured alone, A1, A2, B, A1, ...: a drift of the shared machine's load hits
    the three pools alike instead of whichever pool was being measured at the time.
    """
    services = []
    try:
        for k, extra_cpu in enumerate((0.0, 0.0, 0.15)):
            args = ("-addr", "{addr}", "-extra-cpu", str(extra_cpu))
            services.append(start_service(ServiceSpec(binary=binary, args=args), workdir / f"svc-{k}.log"))
        spec = MeasureSpec(load=Scenario([Request("GET", PATH)]), model=ClosedModel(4), rounds=1, window=window,
                           warmup=1.0, track=tuple(GATED), check_leaks=False)
        out: list[dict[str, list[float]]] = [{name: [] for name in RECORDED} for _ in services]
        for i in range(rounds + 1):  # the first round of each service is a warm-up
            for k, svc in enumerate(services):
                m = measure(svc, spec, directory=workdir / f"rounds-{k}-{i}")
                if i:
                    for name in RECORDED:
                        out[k][name] += m.values(name)
        return out
    finally:
        for svc in services:
            svc.stop()


def gate_run(base: dict[str, list[float]], cur: dict[str, list[float]], rng: random.Random, n: int, rule: str):
    comparisons = []
    for name in GATED:
        b = rng.sample(base[name], n)
        c = rng.sample(cur[name], n)
        comparisons.append(compare(b, c, ComparisonPolicy.of(get_metric(name)), 0.05, test="bench", effect_rule=rule))
    return gate(comparisons, alpha=0.05, method="bh", effect_rule=rule)


def cv(values: list[float]) -> float:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return var**0.5 / mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15, help="rounds in each pool")
    ap.add_argument("--window", type=float, default=3, help="seconds per round (whole seconds)")
    ap.add_argument("--draws", type=int, default=200, help="gate runs drawn for A/A and for A/B")
    ap.add_argument("--n", type=int, default=5, help="rounds per side in one gate run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", type=Path, help="write the measured pools to this JSON file")
    ap.add_argument("--pools", type=Path, help="read pools saved with --save instead of measuring")
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="work",
                    help="work: CPU metrics of /work; checkout: a region metric against request latency")
    args = ap.parse_args()
    global PATH, GATED, RECORDED
    PATH, GATED, extra = SCENARIOS[args.scenario]
    RECORDED = GATED + extra

    if args.pools:
        saved = json.loads(args.pools.read_text())
        a1, a2, b, header = saved["a1"], saved["a2"], saved["b"], saved["header"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            binary = build_binary(REPO / "examples" / "go-service", work / "bin").path
            t0 = time.monotonic()
            a1, a2, b = pools(binary, args.rounds, args.window, work)
            measured = time.monotonic() - t0
        header = (f"pools: 3 x {args.rounds} rounds of {args.window:g} s (closed model, 4 clients, {PATH}), "
                  f"measured in {measured:.0f} s")
        if args.save:
            args.save.write_text(json.dumps({"a1": a1, "a2": a2, "b": b, "header": header}, indent=1))
    print(header)
    print(f"{'metric':<36}{'A1 median':>12}{'A2 median':>12}{'B median':>12}{'B/A':>8}{'CV A':>8}")
    for name in RECORDED:
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        a = a1[name] + a2[name]
        print(f"{name:<36}{med(a1[name]):>12.4g}{med(a2[name]):>12.4g}{med(b[name]):>12.4g}"
              f"{med(b[name]) / med(a) - 1:>+8.1%}{cv(a):>8.1%}")

    both = {name: a1[name] + a2[name] for name in GATED}
    for rule, what in (("bound", "the CI bound beyond the floor (default)"), ("estimate", "the point estimate beyond the floor")):
        rng = random.Random(args.seed)
        false_alarms = sum(gate_run(a1, a2, rng, args.n, rule).failed for _ in range(args.draws))
        detected = 0
        per_metric = {name: 0 for name in GATED}
        for _ in range(args.draws):
            res = gate_run(both, b, rng, args.n, rule)
            detected += res.failed
            for v in res.verdicts:
                if v.status is Status.REGRESSED:
                    per_metric[v.metric] += 1
        print(f"\ngate runs: {args.n}+{args.n} rounds each, {len(GATED)} gated metrics, BH at alpha 0.05, "
              f"effect rule: {what}")
        print(f"A/A false alarms: {false_alarms}/{args.draws} = {false_alarms / args.draws:.1%} of gate runs")
        print(f"A/B (+15 % work in main.hashPayload) detected: {detected}/{args.draws} = {detected / args.draws:.1%}")
        for name, count in per_metric.items():
            print(f"  flagged {name}: {count / args.draws:.1%}")


if __name__ == "__main__":
    main()

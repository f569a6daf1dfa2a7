"""Single-event ingest: `POST /v1/clicks` req/s against a bare uvicorn endpoint.

Both servers run as separate processes with the same uvicorn settings and are driven by
the same wrk command (same bodies, same Authorization header, same threads/connections),
alternating bare/app in rounds so that background load hits both alike. The ratio is
median(app ok req/s) / median(bare req/s); the target is >= 0.6.

    python -m load_tests.ingest_single [--seconds 8 --rounds 2 --connections 64]
        [--variants auto,asyncio-h11,granian] [--breakdown] [--profile]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from load_tests.args import add_common_arguments, bench_main
from load_tests.base import BenchError
from load_tests.events import click_stream, single_bodies
from load_tests.isolation import BenchEnv, auth_headers
from load_tests.output import median, num, stage, table, verdict, write_results
from load_tests.processes import require_tool
from load_tests.profiles import print_profile
from load_tests.wrk_bench import VARIANTS, Target, measure, profile, start_target, trim_streams
from load_tests.wrk_runner import write_lines

NAME = "ingest_single"
TARGET_RATIO = 0.6
PATH = "/v1/clicks"
# wrk sends everything with one ingest key, and one API process now serves about the
# default per-key limit (rate_limit_ingest = 20,000/s): past it the app answers 429s,
# which are not capacity. The limiter still runs, with a limit no run reaches; a --set
# rate_limit_ingest=... given on the command line wins.
UNREACHED_RATE_LIMIT = "rate_limit_ingest=1000000000"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m load_tests.{NAME}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=int, default=8, help="measured wrk run length")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up before each run")
    parser.add_argument("--rounds", type=int, default=2, help="bare/app alternations")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument(
        "--variants",
        default="auto",
        help="comma-separated server variants: auto (uvicorn with uvloop+httptools, what "
        "`helpstream api` runs), asyncio-h11, granian (needs `pip install granian`) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also measure FastAPI + validation without auth/Redis (load_tests.servers noio)",
    )
    parser.add_argument("--bodies", type=int, default=20_000, help="distinct request bodies")
    add_common_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    require_tool("wrk")
    args.settings = [UNREACHED_RATE_LIMIT, *args.settings]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for variant in variants:
        if variant not in VARIANTS:
            raise BenchError(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
    names = ["bare", *(["noio"] if args.breakdown else []), "app"]
    with BenchEnv(args, NAME) as env:
        (ingest_key,) = env.keys("ingest")
        headers = auth_headers(ingest_key)
        bodies = write_lines(
            env.workdir / "single.jsonl", single_bodies(click_stream(args.bodies, args.seed))
        )
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        profiles: dict[str, Any] = {}
        for variant in variants:
            with stage(f"starting {', '.join(names)} servers ({variant})"):
                targets = {name: start_target(env, name, variant) for name in names}
            per_target: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for round_no in range(1, args.rounds + 1):
                for name in names:
                    target = targets[name]
                    with stage(f"round {round_no}/{args.rounds}: {name} ({variant})"):
                        result = _measure(env, target, bodies, args, headers)
                    per_target[name].append(result)
                    print(
                        f"    {num(result['ok_per_second'])} req/s ok, "
                        f"{result['non_2xx']} non-2xx, server {result['cpu_cores']['server']:.2f} "
                        f"cores, other load {result['cpu_cores']['other']:.2f} cores"
                    )
            runs[variant] = per_target
            if args.profile:
                for name in names:
                    with stage(f"profiling {name} ({variant}) with py-spy"):
                        summary, rate = profile(
                            env,
                            targets[name],
                            PATH,
                            bodies,
                            tag=f"{NAME}-{variant}",
                            seconds=args.seconds,
                            threads=args.threads,
                            connections=args.connections,
                            headers=headers,
                        )
                    if summary is not None:
                        print_profile(summary)
                        profiles[f"{name}-{variant}"] = {
                            "req_per_s_while_profiled": rate,
                            **vars(summary),
                        }
            for target in targets.values():
                env.stop(target.child)

    return _report(args, runs, profiles)


def _measure(
    env: BenchEnv,
    target: Target,
    bodies: Any,
    args: argparse.Namespace,
    headers: dict[str, str],
) -> dict[str, Any]:
    result = measure(
        env,
        target,
        PATH,
        bodies,
        seconds=args.seconds,
        warmup=args.warmup,
        threads=args.threads,
        connections=args.connections,
        headers=headers,
    )
    if target.name == "app":
        trim_streams(env)
    return result


def _report(
    args: argparse.Namespace,
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    profiles: dict[str, Any],
) -> dict[str, Any]:
    rows = []
    summary: dict[str, Any] = {}
    for variant, per_target in runs.items():
        medians = {n: median([r["ok_per_second"] for r in rs]) for n, rs in per_target.items()}
        for name, results in per_target.items():
            rows.append(
                [
                    f"{name} ({variant})",
                    num(medians[name]),
                    " / ".join(num(r["ok_per_second"]) for r in results),
                    f"{median([r['latency_ms']['p50'] for r in results]):.1f}",
                    f"{median([r['latency_ms']['p99'] for r in results]):.1f}",
                    sum(r["non_2xx"] + r["socket_errors"] for r in results),
                    f"{median([r['cpu_cores']['server'] for r in results]):.2f}",
                    f"{median([r['cpu_cores']['redis'] for r in results]):.2f}",
                    f"{median([r['cpu_cores']['wrk'] for r in results]):.2f}",
                    f"{max(r['cpu_cores']['other'] for r in results):.2f}",
                ]
            )
        ratio = medians["app"] / medians["bare"] if medians["bare"] else float("nan")
        summary[variant] = {
            "median_ok_req_per_s": medians,
            "ratio_app_to_bare": round(ratio, 3),
            "per_round_ratios": [
                round(a["ok_per_second"] / b["ok_per_second"], 3)
                for a, b in zip(per_target["app"], per_target["bare"], strict=True)
                if b["ok_per_second"]
            ],
        }
        if "noio" in medians and medians["bare"]:
            summary[variant]["ratio_noio_to_bare"] = round(medians["noio"] / medians["bare"], 3)
    primary = summary.get("auto") or next(iter(summary.values()))
    ratio = float(primary["ratio_app_to_bare"])
    print(f"\n{NAME}: POST {PATH}, wrk -t{args.threads} -c{args.connections} -d{args.seconds}s")
    print(
        table(
            [
                "server",
                "req/s (median)",
                "per round",
                "p50 ms",
                "p99 ms",
                "errors",
                "server cores",
                "redis cores",
                "wrk cores",
                "other load",
            ],
            rows,
        )
    )
    ratio_rows = []
    for variant, s in summary.items():
        ratio_rows.append(
            [
                f"app / bare ({variant})",
                f"{s['ratio_app_to_bare']:.3f}",
                f">= {TARGET_RATIO}",
                verdict(s["ratio_app_to_bare"], TARGET_RATIO),
            ]
        )
        if "ratio_noio_to_bare" in s:
            ratio_rows.append(
                [f"noio / bare ({variant})", f"{s['ratio_noio_to_bare']:.3f}", "(breakdown)", ""]
            )
    print(table(["ratio", "value", "target", "verdict"], ratio_rows))
    payload = {
        "ratio": ratio,
        "target": TARGET_RATIO,
        "verdict": verdict(ratio, TARGET_RATIO),
        "parameters": vars(args),
        "summary": summary,
        "runs": runs,
        "profiles": profiles,
    }
    path = write_results(NAME, payload)
    print(f"results: {path}")
    return payload


def main(argv: list[str] | None = None) -> int:
    return bench_main(NAME, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())

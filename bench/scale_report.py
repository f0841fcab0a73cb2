"""The scale benchmark's goals, its Markdown table and its chart (bench/scale.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from http_load import PHASES

GOALS: dict[str, dict[str, Any]] = {
    "single_writes": {"ratio_at_least": 0.8, "text": ">= 0.8x raw save"},
    "batch_import": {"per_s_at_least": 25_000.0, "text": ">= 25,000 events/s"},
    "replay": {"ratio_at_least": 0.6, "per_s_at_least": 100_000.0,
               "text": ">= 0.6x raw decode and >= 100,000 events/s"},
    "replay_rss": {"mb_at_most": 300.0, "text": "peak <= 300 MB (stated at 1M)"},
    "read_growth": {"p50_ratio_at_most": 1.5,
                    "text": "p50 at the largest size <= 1.5x at the smallest (stated 1M vs 10k)"},
    "as_of": {"p99_ms_at_most": 50.0, "text": "p99 <= 50 ms (stated at 1M, SQLite)"},
    "proofs": {"p99_ms_at_most": 2.0, "text": "p99 <= 2 ms (stated at 1M, SQLite)"},
    "verify": {"per_s_at_least": 300_000.0,
               "text": ">= 300,000 events/s, as the command reports it (stated at 1M, "
                       "SQLite); the first figure includes the process start-up"},
    "http": {name: {"per_s_at_least": per_s, "p99_ms_at_most": p99}
             for name, (_, per_s, p99) in PHASES.items()},
}


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def rate(value: float) -> str:
    return f"{value:,.0f}/s"


# -- rows: (label, cell per size, goal) ---------------------------------------------------

Cell = Callable[[dict[str, Any]], str]


def _growth(what: str) -> Cell:
    return lambda s: rate(s["growth"]["per_s"].get(what, 0.0)) if s["growth"]["per_s"].get(
        what) else "-"


def _execute_batch(s: dict[str, Any]) -> str:
    g = s["growth"]
    per_s = g["per_s"]["execute_batch"]
    ratio = g["ratio_execute_batch_to_raw_save"]
    return (f"{rate(per_s)} ({ratio:.2f}x raw save), "
            f"{verdict(per_s >= GOALS['batch_import']['per_s_at_least'])}")


def _single(s: dict[str, Any]) -> str:
    w = s["single_writes"]
    return (f"{rate(w['registry_per_s'])} vs {rate(w['raw_per_s'])} raw: {w['ratio']:.2f}x, "
            f"{verdict(w['ratio'] >= GOALS['single_writes']['ratio_at_least'])}")


def _import(s: dict[str, Any]) -> str:
    per_s = s["export_import"]["import_per_s"]
    return f"{rate(per_s)}, {verdict(per_s >= GOALS['batch_import']['per_s_at_least'])}"


def _replay(s: dict[str, Any]) -> str:
    r = s["replay"]
    per_s, goal = r["registry"]["per_s"], GOALS["replay"]
    met = r["ratio"] >= goal["ratio_at_least"] and per_s >= goal["per_s_at_least"]
    return f"{rate(per_s)} ({r['ratio']:.2f}x raw decode), {verdict(met)}"


def _rss(s: dict[str, Any]) -> str:
    rss = s["replay"]["registry"]["rss_mb"]
    met = rss["peak"] <= GOALS["replay_rss"]["mb_at_most"]
    return f"{rss['peak']:,.0f} MB (opened: {rss['ready']:,.0f}), {verdict(met)}"


def _revision(s: dict[str, Any]) -> str:
    r = s["agreement_revision"]
    return f"{r['record_s']:.3f} / {r['project_s']:.2f}"


def _verify(which: str, goal: bool = True) -> Cell:
    def cell(s: dict[str, Any]) -> str:
        v = s["verify"][which]
        if not v.get("available"):
            return "not available"
        if v["exit_status"] != 0:
            return f"failed (exit {v['exit_status']})"
        own = v.get("own_per_s")
        text = rate(v["per_s"]) + (f" ({rate(own)} as it reports)" if own else "")
        if not goal:
            return text
        judged = own or v["per_s"]
        return f"{text}, {verdict(judged >= GOALS['verify']['per_s_at_least'])}"
    return cell


def _latency(get: Callable[[dict[str, Any]], dict[str, float] | None],
             p99_goal: float | None = None) -> Cell:
    def cell(s: dict[str, Any]) -> str:
        f = get(s)
        if f is None:
            return "-"
        text = f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f}"
        return text if p99_goal is None else f"{text}, {verdict(f['p99_ms'] <= p99_goal)}"
    return cell


def _proof(kind: str) -> Callable[[dict[str, Any]], dict[str, float] | None]:
    return lambda s: s["proofs"].get(kind)


def _query(name: str) -> Callable[[dict[str, Any]], dict[str, float] | None]:
    return lambda s: s["reads"]["queries"].get(name)


def read_growth(sizes: list[dict[str, Any]], name: str) -> str:
    """p50 at the largest size over p50 at the smallest, judged against the goal: over the
    reference store's p50 timed beside it when there is one, else over the smallest size's
    own (measured earlier in the run)."""
    if len(sizes) < 2:
        return "one size only"
    last = _query(name)(sizes[-1])
    beside = sizes[-1]["reads"].get("reference")
    first = beside["queries"].get(name) if beside else _query(name)(sizes[0])
    if not first or not last:
        return "-"
    ratio = last["p50_ms"] / first["p50_ms"]
    met = ratio <= GOALS["read_growth"]["p50_ratio_at_most"]
    how = (f"beside the same history at {sizes[0]['size']:,} ({first['p50_ms']:.2f} ms)"
           if beside else f"from {sizes[0]['size']:,}")
    return f"p50 x{ratio:.2f} {how} to {sizes[-1]['size']:,}, {verdict(met)}"


def store_rows(sizes: list[dict[str, Any]]) -> list[tuple[str, Cell, str]]:
    g = GOALS
    rows: list[tuple[str, Cell, str]] = [
        ("execute_batch while growing (events/s)", _execute_batch, g["batch_import"]["text"]),
        ("raw eventsourcing save, same batches", _growth("raw_save"), "baseline"),
        ("read models catching up while growing", _growth("catch_up"), "-"),
        ("parsing commands (in no write figure)", _growth("parse"), "-"),
        ("single writes (Registry.execute)", _single, g["single_writes"]["text"]),
        ("NDJSON import (import_events)", _import, g["batch_import"]["text"]),
        ("NDJSON export", lambda s: rate(s["export_import"]["export_per_s"]), "-"),
        ("full replay (Follower.rebuild)", _replay, g["replay"]["text"]),
        ("raw notification decode", lambda s: rate(s["replay"]["raw_decode"]["per_s"]),
         "baseline"),
        ("replay peak RSS (child process)", _rss, g["replay_rss"]["text"]),
        ("one more agreement revision: record / read models (s)", _revision, "-"),
    ]
    names = list(sizes[0]["reads"]["queries"])
    for name in names:
        as_of = name.startswith("as-of")
        rows.append((f"read p50 / p99 ms: {name}",
                     _latency(_query(name), g["as_of"]["p99_ms_at_most"] if as_of else None),
                     (g["as_of"]["text"] + "; " if as_of else "") + read_growth(sizes, name)))
    for kind in ("inclusion", "consistency"):
        rows.append((f"{kind} proof p50 / p99 ms",
                     _latency(_proof(kind), g["proofs"]["p99_ms_at_most"]), g["proofs"]["text"]))
    rows.append(("coopreg export (leaves + checkpoint)", _verify("cli_export", goal=False),
                 "-"))
    rows.append(("verify, live store (coopreg verify --skip-replay)", _verify("live"),
                 g["verify"]["text"]))
    rows.append(("verify, offline (coopreg audit verify)", _verify("offline"),
                 g["verify"]["text"]))
    return rows


def store_table(name: str, figures: dict[str, Any]) -> list[str]:
    if "skipped" in figures:
        return [f"## {name}", "", f"skipped: {figures['skipped']}", ""]
    sizes = list(figures.get("sizes", {}).values())
    if not sizes:
        return [f"## {name}", "", "no size measured yet", ""]
    head = " | ".join(f"{s['events_in_store']:,} events" for s in sizes)
    lines = [f"## {name}", "", f"| measure | {head} | goal |",
             "|---" * (len(sizes) + 2) + "|"]
    for label, cell, goal in store_rows(sizes):
        lines.append(f"| {label} | " + " | ".join(cell(s) for s in sizes) + f" | {goal} |")
    lines.append("")
    if "http" in figures:
        lines += http_table(figures["http"], name)
    return lines


def http_table(http: dict[str, Any], store: str) -> list[str]:
    settings = http["settings"]
    lines = [f"HTTP under gunicorn at {http['events_in_store']:,} events: C="
             f"{settings['concurrency']}, {settings['workers']} workers x {settings['threads']} "
             f"threads, {settings['seconds']:g} s per run, best of {settings['repeats']}; the "
             "baseline is bench/http_load.py's bare Flask app on the raw store"
             + ("" if store == "sqlite" else " (the goals are stated for SQLite)"), "",
             "| phase | registry req/s | p50 ms | p99 ms | errors | baseline req/s | p50 ms "
             "| p99 ms | registry / baseline req/s | goal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for phase, (label, per_s, p99) in PHASES.items():
        f = http["phases"][phase]
        r, b = f["registry"], f["baseline"]
        lines.append(f"| {label} | {r['per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['errors']} | {b['per_s']:,.0f} | {b['p50_ms']:.1f} | "
                     f"{b['p99_ms']:.1f} | {f['ratio']['per_s']:.2f}x | >= {per_s:,.0f}/s, "
                     f"p99 <= {p99:.0f} ms: {verdict(f['target']['met'])} |")
    lines.append("")
    return lines


def markdown(output: dict[str, Any]) -> str:
    lines = ["# Scale benchmark", "",
             f"{output['timestamp']}, Python {output['python']}, eventsourcing "
             f"{output['eventsourcing']}, {output['cpus']} CPUs, profile `{output['profile']}`,"
             f" batches of {output['batch_size']}, read models following during growth: "
             f"{'yes' if output['follow_during_growth'] else 'no'}, ANALYZE run by the "
             f"benchmark: {'yes' if output.get('analyze') else 'no'}"
             + (f", PostgreSQL autovacuum: {output['postgres_autovacuum']}"
                if output.get("postgres_autovacuum") else "")
             + ". Rates are events per "
             "second; each growth figure covers the events added since the previous size. "
             "Ratios compare with a baseline measured in the same run.", ""]
    for name, figures in output["stores"].items():
        lines += store_table(name, figures)
    return "\n".join(lines)


# -- chart -------------------------------------------------------------------------------------

RATES: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "execute_batch": lambda s: s["growth"]["per_s"].get("execute_batch"),
    "raw save (batches)": lambda s: s["growth"]["per_s"].get("raw_save"),
    "read-model catch-up": lambda s: s["growth"]["per_s"].get("catch_up"),
    "single writes": lambda s: s["single_writes"]["registry_per_s"],
    "NDJSON import": lambda s: s["export_import"]["import_per_s"],
    "replay (rebuild)": lambda s: s["replay"]["registry"]["per_s"],
    "raw decode": lambda s: s["replay"]["raw_decode"]["per_s"],
}


def latencies(s: dict[str, Any]) -> dict[str, float]:
    found = {name: f["p50_ms"] for name, f in s["reads"]["queries"].items()}
    for kind in ("inclusion", "consistency"):
        if kind in s["proofs"]:
            found[f"{kind} proof"] = s["proofs"][kind]["p50_ms"]
    return found


def chart(output: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rates, lat) = plt.subplots(1, 2, figsize=(15, 6))
    styles = {"sqlite": "-", "postgres": "--"}
    for store, figures in output["stores"].items():
        sizes = list(figures.get("sizes", {}).values())
        if not sizes:
            continue
        xs = [s["events_in_store"] for s in sizes]
        for label, get in RATES.items():
            ys = [get(s) or float("nan") for s in sizes]
            rates.plot(xs, ys, styles.get(store, ":"), marker="o", label=f"{label} ({store})")
        for label in latencies(sizes[0]):
            ys = [latencies(s).get(label, float("nan")) for s in sizes]
            lat.plot(xs, ys, styles.get(store, ":"), marker="o", label=f"{label} ({store})")
    for axis, title, unit in ((rates, "Rates against history size", "events per second"),
                              (lat, "p50 latency against history size", "milliseconds")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("events in the store")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

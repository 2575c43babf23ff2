#!/usr/bin/env python3
"""Turns compare.py's JSON (`compare.py ... --json`) into the table BENCHMARKS.md shows and an SVG
chart: for each scenario, how many times better Warren is than RabbitMQ (throughput ratio, or
RabbitMQ/Warren for latency and memory), against the issue's target.

usage: chart.py RESULTS.json CHART.svg"""

import json
import sys

# scenario: (target factor, what the figure is); factors are "times better than RabbitMQ"
TARGETS = {
    "transient-noack": (4, "consume rate (msg/s)"),
    "transient-ack": (4, "consume rate (msg/s)"),
    "persistent-confirm": (4, "consume rate (msg/s)"),
    "body-64KiB": (2, "consume rate (msg/s)"),
    "fanout-8": (4, "deliveries/s"),
    "rpc1-p99": (2, "p99 round trip (µs)"),
    "rpc8-calls": (2, "calls/s"),
    "idle-500c-1000q": (4, "resident memory (KB)"),
}


def factor(row):
    if not row.get("ratio"):
        return None
    return row["ratio"] if row["higher_is_better"] else 1 / row["ratio"]


def table(rows):
    lines = ["| scenario | figure | Warren | RabbitMQ | ratio | target |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        target, figure = TARGETS.get(r["scenario"], (None, r["figure"]))
        w, b = r.get("warren"), r.get("rabbitmq")
        fmt = (lambda v: "-" if v is None else (f"{v:,.1f}" if v < 1000 else f"{v:,.0f}").replace(",", " "))
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        if target is None:
            goal = ""
        elif r["higher_is_better"]:
            goal = f"≥ {target}" + (" (met)" if (factor(r) or 0) >= target else "")
        else:
            goal = f"≤ {1 / target:g}" + (" (met)" if (factor(r) or 0) >= target else "")
        lines.append(f"| {r['scenario']} | {figure} | {fmt(w)} | {fmt(b)} | {ratio} | {goal} |")
    return "\n".join(lines)


def svg(rows):
    width, left, bar, gap, top = 760, 170, 22, 12, 40
    scale_max = max([8.0] + [(factor(r) or 0) * 1.1 for r in rows])
    plot = width - left - 40
    x = lambda v: left + plot * min(v, scale_max) / scale_max
    height = top + len(rows) * (bar + gap) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14">Warren against RabbitMQ 3.10: times better (bars) and targets (marks)</text>']
    for tick in range(0, int(scale_max) + 1):
        out.append(f'<line x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" y2="{height - 30}" stroke="#ddd"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{height - 14}" text-anchor="middle">{tick}x</text>')
    for i, r in enumerate(rows):
        y = top + i * (bar + gap)
        f = factor(r) or 0
        target = TARGETS.get(r["scenario"], (0, ""))[0]
        color = "#2e7d32" if f >= target else "#ef6c00"
        out.append(f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end">{r["scenario"]}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{x(f) - left:.1f}" height="{bar}" fill="{color}"/>')
        out.append(f'<text x="{x(f) + 4:.1f}" y="{y + bar * 0.7:.1f}">{f:.2f}x</text>')
        if target:
            out.append(f'<line x1="{x(target):.1f}" y1="{y - 3}" x2="{x(target):.1f}" y2="{y + bar + 3}" stroke="black" stroke-width="2"/>')
    out.append(f'<line x1="{x(1):.1f}" y1="{top - 6}" x2="{x(1):.1f}" y2="{height - 30}" stroke="#888" stroke-dasharray="4 3"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    rows = json.load(open(sys.argv[1]))
    with open(sys.argv[2], "w") as f:
        f.write(svg(rows))
    print(table(rows))


if __name__ == "__main__":
    main()

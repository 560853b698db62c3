"""Tables and the over-time plot of a streaming evaluation (shared by the CLI and bench/)."""

from __future__ import annotations

from pathlib import Path

from attune.learning.stream import StreamReport


def table(report: StreamReport, k: int, peers: dict[str, tuple[float, float]] | None = None) -> str:
    """A Markdown table: HR@k, NDCG@k and events/s per variant (peers: name -> (hr, ndcg))."""
    lines = [
        f"| variant | HR@{k} | NDCG@{k} | events/s |",
        "|---|---:|---:|---:|",
    ]
    for name, r in report.results.items():
        rate = len(r.hits) / r.seconds if r.seconds else 0.0
        lines.append(f"| {name} | {r.hr:.4f} | {r.mean_ndcg:.4f} | {rate:,.0f} |")
    for name, (hr, ndcg) in (peers or {}).items():
        lines.append(f"| {name} | {hr:.4f} | {ndcg:.4f} | |")
    return "\n".join(lines)


def plot(
    report: StreamReport,
    path: Path,
    bucket: int,
    k: int,
    peers: dict[str, float] | None = None,
) -> Path:
    """HR@k per bucket of consecutive replayed events, one line per variant; peers (name ->
    overall HR@k) as dashed lines; published fine-tunes as dotted verticals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for name, r in report.results.items():
        points = r.curve(bucket)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3, label=name)
    for name, hr in (peers or {}).items():
        ax.axhline(hr, linestyle="--", color="grey", label=f"{name} (overall)")
    rounds = zip(report.round_at, report.rounds, strict=True)
    published = [n for n, o in rounds if o.status == "published"]
    for n in published:
        ax.axvline(n, linestyle=":", color="tab:green", alpha=0.5)
    if report.rounds:
        label = f"fine-tune published ({len(published)} of {len(report.rounds)} rounds)"
        ax.plot([], [], ":", color="tab:green", label=label)
    ax.set_xlabel("replayed events")
    ax.set_ylabel(f"HR@{k} (per {bucket} events)")
    ax.set_title(f"Streaming evaluation on {report.dataset}: {report.test_events} events")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

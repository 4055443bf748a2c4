"""The fitted tables over the field's: retry recovery curve, gap-to-preceding-event shares,
local hour-of-day shares (one PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from harness.fieldlog.tables import GAP_BUCKETS


def hour_counts(t: dict) -> dict:
    """The hour table of either shape: the field JSON's {"tz", "counts"} or the analyzer's {hour: n}."""
    h = t["by_hour_local"]
    return h["counts"] if isinstance(h.get("counts"), dict) else h


def _shares(counts: dict, keys: list[str]) -> list[float]:
    total = sum(counts.get(k, 0) for k in keys) or 1
    return [counts.get(k, 0) / total for k in keys]


def figure(ref: dict, fits: list[tuple[str, dict]], path: str) -> str:
    """Write the figure of the field's tables and each (label, tables) in `fits` to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    series = [("field report", ref, "k", "o-")] + [(label, t, None, "s--") for label, t in fits]
    ax = axes[0]
    for label, t, color, style in series:
        curve = t["retry_curve"]
        ax.plot([r["attempt"] for r in curve], [r["recovered"] / r["triggered"] for r in curve], style,
                color=color, label=label)
    ax.set(xlabel="retry attempt", ylabel="recovered at this attempt", title="retry recovery (§3.6)", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    gap_keys = [name for name, _ in GAP_BUCKETS]
    hour_keys = [f"{h:02d}" for h in range(24)]
    width = 0.8 / len(series)
    for i, (label, t, color, _) in enumerate(series):
        axes[1].bar([k + i * width for k in range(len(gap_keys))], _shares(t["gaps"], gap_keys), width,
                    color=color, label=label)
        axes[2].plot(range(24), _shares(hour_counts(t), hour_keys), "o-" if i == 0 else "s--",
                     color=color, label=label)
    axes[1].set_xticks([k + 0.4 - width / 2 for k in range(len(gap_keys))], gap_keys)
    axes[1].set(ylabel="share of api_errors", title="gap to the preceding event (§3.7)")
    axes[2].set(xlabel="local hour (UTC-5)", ylabel="share of api_errors", title="hour of day (§4.2)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

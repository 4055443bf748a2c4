"""LinkProfile: how one direction of a link treats packets (delay, jitter, loss, rate, queue).

A profile is data: frozen, validated on construction, printable, JSON-serializable. The
same profile drives both backends (kernel netem and the userspace delay line).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .errors import ConfigError, check_range

MAX_DELAY_MS = 60_000.0
MAX_RATE_MBIT = 100_000.0
MAX_LIMIT = 1_000_000


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state burst loss (netem's `loss gemodel p r 1-h 1-k`), all in percent.

    p: P(good -> bad) per packet, r: P(bad -> good), h_loss: loss in the bad state
    (netem's 1-h), k_loss: loss in the good state (netem's 1-k).
    """

    p: float
    r: float
    h_loss: float = 100.0
    k_loss: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            check_range(f"GilbertElliott.{f.name}", getattr(self, f.name), 0.0, 100.0, "percent")
        if self.r == 0 and self.p > 0:
            raise ConfigError("GilbertElliott.r", self.r, "> 0 when p > 0 (else the bad state never ends)")

    def mean_loss(self) -> float:
        """Stationary loss rate in percent."""
        if self.p == 0:
            return self.k_loss
        pi_bad = self.p / (self.p + self.r)
        return pi_bad * self.h_loss + (1 - pi_bad) * self.k_loss


@dataclass(frozen=True)
class LinkProfile:
    """One direction of a link. Zero means "off" for every field."""

    # durations: a world in field units scales them by its time scale (harness/units.py)
    delay_ms: float = field(default=0.0, metadata={"unit": "ms"})
    jitter_ms: float = field(default=0.0, metadata={"unit": "ms"})
    loss_pct: float = 0.0  # independent random loss
    gilbert_elliott: GilbertElliott | None = None  # burst loss, instead of loss_pct
    rate_mbit: float = 0.0  # 0: unlimited
    limit_packets: int = 10_000  # queue limit of the delay stage
    seed: int = 0  # loss and jitter are drawn from a RNG seeded with this

    def __post_init__(self) -> None:
        check_range("LinkProfile.delay_ms", self.delay_ms, 0.0, MAX_DELAY_MS, "ms")
        check_range("LinkProfile.jitter_ms", self.jitter_ms, 0.0, MAX_DELAY_MS, "ms")
        if self.jitter_ms > self.delay_ms:
            raise ConfigError("LinkProfile.jitter_ms", self.jitter_ms,
                              f"at most delay_ms ({self.delay_ms}) so delay never goes negative")
        check_range("LinkProfile.loss_pct", self.loss_pct, 0.0, 100.0, "percent")
        if self.gilbert_elliott is not None:
            if not isinstance(self.gilbert_elliott, GilbertElliott):
                raise ConfigError("LinkProfile.gilbert_elliott", self.gilbert_elliott,
                                  "a GilbertElliott or None")
            if self.loss_pct:
                raise ConfigError("LinkProfile.loss_pct", self.loss_pct,
                                  "0 when gilbert_elliott is set (one loss model at a time)")
        check_range("LinkProfile.rate_mbit", self.rate_mbit, 0.0, MAX_RATE_MBIT, "Mbit/s (0 = unlimited)")
        if isinstance(self.limit_packets, bool) or not isinstance(self.limit_packets, int) \
                or not 1 <= self.limit_packets <= MAX_LIMIT:
            raise ConfigError("LinkProfile.limit_packets", self.limit_packets, f"an integer in [1, {MAX_LIMIT}]")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError("LinkProfile.seed", self.seed, "an integer >= 0")

    @property
    def is_neutral(self) -> bool:
        return not (self.delay_ms or self.jitter_ms or self.loss_pct or self.gilbert_elliott or self.rate_mbit)

    @property
    def has_loss(self) -> bool:
        return bool(self.loss_pct or self.gilbert_elliott)

    def scaled(self, time_scale: float) -> LinkProfile:
        """Durations times `time_scale` (rates and probabilities unchanged)."""
        from dataclasses import replace

        return replace(self, **{f.name: getattr(self, f.name) * time_scale for f in fields(self)
                                if f.metadata.get("unit") == "ms"})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LinkProfile:
        d = dict(d)
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ConfigError(f"LinkProfile.{k}", d[k], "fields " + ", ".join(sorted(known)))
        ge = d.get("gilbert_elliott")
        if isinstance(ge, dict):
            d["gilbert_elliott"] = GilbertElliott(**ge)
        return cls(**d)


@dataclass(frozen=True)
class LinkShape:
    """Both directions of a link: a_to_b is what packets from host a to host b go through."""

    a_to_b: LinkProfile = field(default_factory=LinkProfile)
    b_to_a: LinkProfile = field(default_factory=LinkProfile)
    # userspace backend: pass through the delay line even when neutral (to measure it)
    through_emulator: bool = False

    @classmethod
    def symmetric(cls, profile: LinkProfile) -> LinkShape:
        return cls(profile, profile)

    @property
    def is_neutral(self) -> bool:
        return self.a_to_b.is_neutral and self.b_to_a.is_neutral and not self.through_emulator

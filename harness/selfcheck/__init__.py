"""The instrument's validation that can disagree with the engine: worlds drawn at random with
known truth (strategies), the self-check that runs the engine on them and scores it (runner,
score), and external targets probed through a plain base URL (external)."""

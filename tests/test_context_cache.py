"""build_body keeps big bodies for reuse: a kept body is the one it would build, every
argument is part of the key, and what is kept stays under its byte bound."""

from harness.clients import context


def test_a_kept_body_is_the_built_one_for_every_argument(monkeypatch):
    monkeypatch.setattr(context, "_cache", type(context._cache)())
    size = context.CACHE_FROM + 12_345
    variants = [dict(), dict(seed=1), dict(stream=False), dict(max_tokens=7), dict(model="claude-x")]
    first = [context.build_body(size, **kw) for kw in variants]
    assert len(set(first)) == len(variants)  # no two argument sets share an entry
    for kw, body in zip(variants, first, strict=True):
        again = context.build_body(size, **kw)
        assert again is body  # served from the cache ...
        assert again == context._build(size, kw.get("stream", True), kw.get("model", context.DEFAULT_MODEL),
                                       kw.get("max_tokens", 1024), kw.get("seed", 0))  # ... and the same bytes
        assert len(again) == size


def test_the_cache_stays_under_its_bound_and_skips_small_bodies(monkeypatch):
    monkeypatch.setattr(context, "_cache", type(context._cache)())
    size = context.CACHE_FROM
    monkeypatch.setattr(context, "CACHE_BYTES", 3 * size)
    for seed in range(6):
        context.build_body(size, seed=seed)
    assert sum(map(len, context._cache.values())) <= 3 * size
    assert [k[-1] for k in context._cache] == [3, 4, 5]  # least recently used out first
    context.build_body(size - 1)
    assert all(k[0] == size for k in context._cache)

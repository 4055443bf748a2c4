"""The experiment layer: find where a target's outcome flips, then judge the hypotheses.

    factors.py   the factors the engine varies, their ladders and how a level becomes a probe
    target.py    what the engine probes: a running lab world (field units) or a base URL
    search.py    ladders (geometric, well below any plausible limit, up to a cap), bisection
                 where the outcome flips, treatments at the failing levels, heartbeats
    analysis.py  from the recorded history alone: levels, boundaries, effects, coincidences
    judge.py     each hypothesis's claims against those observations: consistent,
                 falsified (Holm within the hypothesis), inconclusive, with the ranges covered

Imports go one way: experiment -> worlds/clients -> netem.
"""

"""Fit the field: which world of a family (family.py) writes the field report's own tables?

    assumptions  what Claude Code on Bun logs per wire event (data, with where it was measured)
    family       the mechanisms and the user model, their parameters and ranges
    surrogate    a fast event simulation of a field user's five weeks in one world
    score        the analyzer's tables of a simulated run and their distance to the field's
    search       Latin hypercube + compass-search refinement, seeded, within a time budget
    ablation     the best world with one mechanism removed at a time
    export       the best worlds as World files (what a World can express) and the fit's JSON
    cli          `python -m harness fit`
"""

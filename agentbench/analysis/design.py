"""Fractional factorial sweeps (pure): the half fraction of a grid of k ≥ 4 two-level factors
(`agentbench sweep --design half`), and which effects it aliases.

Coding: each factor's first (baseline) level is −1, its second +1. The half fraction is the 2^(k−1) cells in
which an **even number of factors leave their baseline**, so the experiment as given (no factor moved) is
always one of them. Its defining relation is I = s·AB…K with s = (−1)^k: the product of all k columns is
the constant s on every cell (I = ABCD for 4 factors, I = −ABCDE for 5). Resolution k.

Aliasing: an effect (a set S of factors) is aliased with the interaction of the other factors (the
complement of S): the fraction's contrast for S estimates effect(S) + s·effect(complement). So

- each main effect is aliased with the (k−1)-factor interaction of the others (A = s·BCD…);
- each two-factor interaction is aliased with a (k−2)-factor one: with k ≥ 5 that is a three-factor or
  higher interaction (estimable if those are negligible); with k = 4 it is another two-factor interaction
  (AB = CD): the pair is one estimate, reported once (under the first of the two).

`analysis.sweep.analyze` computes every effect with the same contrasts as on a full grid, over the
fraction's cells: on the fraction each contrast is exactly the aliased sum above (the other factors are
balanced within each level of the factors it involves).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from agentbench.analysis.results import Aliasing, Cell, Factor, SweepError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def check_half(factors: Sequence[Factor]) -> None:
    """SweepError unless the factors can make a half fraction: at least 4, each with exactly two levels."""
    if len(factors) < 4:
        raise SweepError(f"--design half needs at least 4 two-level factors, got {len(factors)}: with fewer, a half "
                         "fraction aliases main effects with two-factor interactions (resolution III or less); "
                         "run the full grid (--design full)")
    if len(factors) > len(LETTERS):
        raise SweepError(f"--design half takes at most {len(LETTERS)} factors, got {len(factors)}")
    other = [f"{f.key} ({len(f.levels)} levels)" for f in factors if len(f.levels) != 2]
    if other:
        raise SweepError(f"--design half needs every factor at exactly two levels; not: {', '.join(other)}")


def moved(cell: Cell, factors: Sequence[Factor]) -> int:
    """How many factors this cell has off their baseline (first) level."""
    return sum(cell.assignments[f.key] != f.levels[0] for f in factors)


def half_fraction(cells: Sequence[Cell], factors: Sequence[Factor]) -> list[Cell]:
    """The cells of the full grid that make the half fraction (an even number of factors off baseline), in
    grid order. SweepError when the factors cannot make one (`check_half`)."""
    check_half(factors)
    return [c for c in cells if moved(c, factors) % 2 == 0]


def sign(k: int) -> int:
    """s in the defining relation I = s·AB…K of the half fraction of k factors."""
    return -1 if k % 2 else 1


def alias_of(keys: Sequence[str], factors: Sequence[Factor]) -> list[str]:
    """The factors of the effect aliased with the effect of `keys` (its complement), in factor order."""
    return [f.key for f in factors if f.key not in keys]


def _word(keys: Sequence[str], letters: dict[str, str]) -> str:
    return "".join(letters[k] for k in keys)


def aliasing(factors: Sequence[Factor], short: dict[str, str] | None = None) -> Aliasing:
    """What the half fraction of these factors can and cannot tell apart, as plan.json records it and the
    sweep prints it. `short` names the factors (`analysis.sweep.short_keys`)."""
    check_half(factors)
    k = len(factors)
    letters = {f.key: LETTERS[i] for i, f in enumerate(factors)}
    s = sign(k)
    relation = f"I = {'−' if s < 0 else ''}{_word([f.key for f in factors], letters)}"
    pm = "−" if s < 0 else "+"
    mains = [f"{letters[f.key]} {pm} {_word(alias_of([f.key], factors), letters)}" for f in factors]
    pairs = [(f.key, g.key) for f, g in itertools.combinations(factors, 2)]
    kept = kept_interactions(factors, "half")
    twos = [f"{_word(p, letters)} {pm} {_word(alias_of(p, factors), letters)}" for p in pairs if p in kept]
    names = {f.key: (short or {}).get(f.key, f.key) for f in factors}
    lines = [
        f"half fraction: {2 ** (k - 1)} of {2 ** k} cells (those with an even number of factors off their first "
        f"level, the experiment as given among them); defining relation {relation} (first level −1, second +1), "
        f"resolution {k}; " + ", ".join(f"{letters[f.key]} = {names[f.key]}" for f in factors),
        f"main effects: each aliased with the {k - 1}-factor interaction of the others (it estimates "
        f"{', '.join(mains[:2])}, …); clear if {k - 1}-factor interactions are negligible",
    ]
    if k == 4:
        lines.append("two-factor interactions: NOT separately estimable: aliased in pairs with each other ("
                     + ", ".join(twos) + "); each pair is one estimate, reported under its first interaction")
    else:
        lines.append(f"two-factor interactions: estimable, each aliased with a {k - 2}-factor interaction ("
                     + ", ".join(twos[:3]) + (", …" if len(twos) > 3 else "") + f"); clear if {k - 2}-factor "
                     "interactions are negligible")
    return Aliasing(relation=relation, resolution=k, letters=letters, main_effects=mains, two_factor=twos,
                    two_factor_estimable=k >= 5, statements=lines)


def kept_interactions(factors: Sequence[Factor], design: str) -> set[tuple[str, str]]:
    """The two-factor interactions a sweep reports: all on a full grid and on a half fraction of k ≥ 5; with
    k = 4, the first of each aliased pair (AB of AB = CD)."""
    pairs = [(f.key, g.key) for f, g in itertools.combinations(factors, 2)]
    if design != "half" or len(factors) > 4:
        return set(pairs)
    order = {f.key: i for i, f in enumerate(factors)}
    return {p for p in pairs if sorted(order[k] for k in p) < sorted(order[k] for k in alias_of(p, factors))}

"""Runner profiles: how big a study is. Adapters add their own per-profile parameters."""
from __future__ import annotations

from dataclasses import dataclass

from study.core.errors import StudyError
from study.data.cmapss import SUBSETS


@dataclass(frozen=True)
class Profile:
    """Defaults a profile gives the runner (each can be overridden on the command line)."""

    name: str
    seeds: int
    subsets: tuple[str, ...]
    trial_time_limit_s: float
    description: str


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", seeds=1, subsets=("FD001",), trial_time_limit_s=300,
                     description="tiny models, one seed, FD001: seconds to minutes, for CI"),
    "standard": Profile("standard", seeds=3, subsets=SUBSETS, trial_time_limit_s=1800,
                        description="the real study: full-size models, 3 seeds, all subsets"),
    "default": Profile("default", seeds=3, subsets=SUBSETS, trial_time_limit_s=1800,
                       description="out of the box: library defaults, and plain documented defaults for our "
                                   "networks (none of the settings chosen by hand on validation engines); "
                                   "what each family gives with no tuning effort, and where the tuner starts"),
}


def get_profile(name: str) -> Profile:
    """Look up a profile; an unknown name lists the valid ones."""
    if name not in PROFILES:
        raise StudyError(f"Unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}.")
    return PROFILES[name]

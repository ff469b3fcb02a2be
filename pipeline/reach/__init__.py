"""Stage 4, reach: each complaint's cascade as it is (:mod:`.cascade`) and as it will be
(:mod:`.seismic`, the SEISMIC point-process predictor)."""

from pipeline.reach.cascade import CascadeState, CascadeTracker, RootPost

__all__ = ["CascadeState", "CascadeTracker", "RootPost"]

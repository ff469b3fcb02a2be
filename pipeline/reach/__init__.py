"""Stage 4, reach: each complaint's cascade as it is (:mod:`.cascade`, with its arrivals
in bounded space, :mod:`.sketch`) and as it will be (:mod:`.seismic`, the SEISMIC
point-process predictor, and :mod:`.forecast`, Flashpoint's correction of it)."""

from pipeline.reach.cascade import CascadeState, CascadeTracker, Outlook, RootPost, forecast_due, outlook
from pipeline.reach.forecast import Forecaster

__all__ = ["CascadeState", "CascadeTracker", "Forecaster", "Outlook", "RootPost", "forecast_due", "outlook"]

"""What SREs see of a worker: HTTP endpoints (:mod:`.health`), consumer lag
(:mod:`.lag`), Faust's sensor hooks (:mod:`.sensor`) and structured logs (:mod:`.logs`).
Metric definitions live in :mod:`pipeline.metrics`."""

"""Stage 3: is this post a complaint, and how severe? A MiniLM encoder with trained heads.

Nothing here knows about Kafka: :class:`ComplaintModel` maps texts to verdicts in
batches (preprocess -> forward -> postprocess); the stream agent calls it off the
event loop.
"""

from pipeline.classification.model import ComplaintModel, Verdict

__all__ = ["ComplaintModel", "Verdict"]

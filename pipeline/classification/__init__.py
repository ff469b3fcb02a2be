"""Stage 3: is this post a complaint, and how severe? A MiniLM encoder with trained heads.

Nothing here knows about Kafka: :class:`ComplaintModel` maps texts to verdicts in
batches (preprocess -> forward -> postprocess); the stream agent calls it off the
event loop.
"""

from typing import TYPE_CHECKING, Any

from pipeline.classification.verdict import Verdict

if TYPE_CHECKING:
    from pipeline.classification.model import ComplaintModel

__all__ = ["ComplaintModel", "Verdict"]


def __getattr__(name: str) -> Any:
    # Lazily: importing PyTorch costs the worker's event-loop process ~300 MB it never uses.
    if name == "ComplaintModel":
        from pipeline.classification.model import ComplaintModel

        return ComplaintModel
    raise AttributeError(name)

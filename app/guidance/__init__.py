"""What the policy says about who may read a field, in words and as data: the hint a FORBIDDEN
error carries (`refusal`) and the description a field of the schema carries (`description`), both
computed from the compiled policy so that neither can say something the policy does not."""

from app.guidance.phrases import description, refusal
from app.guidance.readers import Reader, readers

__all__ = ["Reader", "description", "readers", "refusal"]

"""PATCH bodies: apply only what the caller sent, and let null mean "leave it as it is"."""
from pydantic import BaseModel


def apply_patch(target, patch: BaseModel, *, exclude: frozenset[str] = frozenset()) -> None:
    """Copy the fields the patch sets onto `target`; null is treated like an absent field.

    None of the patchable columns may be emptied, so a null must not reach the database (it
    would be a NOT NULL violation, a 500).
    """
    for name, value in patch.model_dump(exclude_unset=True, exclude=set(exclude)).items():
        if value is not None:
            setattr(target, name, value)

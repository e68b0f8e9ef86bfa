"""Task types and the segmentation colour map: one definition for jobs, workforce and consolidation.

Each service keeps its own rules about a type (which manifest key it needs, how an answer is checked, which
core consolidates it); the names, the families they form and the colours a mask is painted with must be
the same everywhere, so they live here.
"""

from __future__ import annotations

TEXT_CLASSIFICATION = "text-classification"
IMAGE_CLASSIFICATION = "image-classification"
IMAGE_MULTILABEL = "image-classification-multilabel"
TEXT_MULTILABEL = "text-classification-multilabel"
BOUNDING_BOX = "bounding-box"
SEMANTIC_SEGMENTATION = "semantic-segmentation"
NAMED_ENTITY_RECOGNITION = "named-entity-recognition"
LABEL_VERIFICATION = "label-verification"
ADJUSTMENT = "adjustment"
#: A requester's own HTML template; answers are any JSON object (pre-/post-processing built in).
CUSTOM = "custom"

CLASSIFICATION_TYPES = frozenset({TEXT_CLASSIFICATION, IMAGE_CLASSIFICATION})
MULTILABEL_TYPES = frozenset({IMAGE_MULTILABEL, TEXT_MULTILABEL})
#: Jobs that start from a previous job's output manifest.
CHAINED_TYPES = frozenset({LABEL_VERIFICATION, ADJUSTMENT})
#: Types whose answers and labels are JSON payloads rather than one category.
STRUCTURED_TYPES = frozenset(
    {*MULTILABEL_TYPES, BOUNDING_BOX, SEMANTIC_SEGMENTATION, NAMED_ENTITY_RECOGNITION, *CHAINED_TYPES, CUSTOM}
)

#: Custom jobs' post-processing: the answer most workers gave, or every worker's answer.
CUSTOM_CONSOLIDATIONS = ("majority", "all")

BACKGROUND_NAME = "BACKGROUND"
BACKGROUND_COLOR = "#ffffff"
#: Ground Truth's default palette (the colours of the real segmentation outputs), then generated colours.
_PALETTE = (
    "#2ca02c", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5",
)  # fmt: skip


def color_map(n: int) -> list[str]:
    """One distinct "#rrggbb" per class (never the white background): the portal paints masks with it,
    workforce checks them with it, consolidation decodes them with it."""
    colors = list(_PALETTE[:n])
    used = {*colors, BACKGROUND_COLOR}
    i = 0
    while len(colors) < n:
        # Deterministic, well-spread colours: the 3 bytes of a multiplicative hash of the index.
        value = (len(colors) * 2654435761 + i * 40503) & 0xFFFFFF
        candidate = f"#{value:06x}"
        i += 1
        if candidate not in used:
            colors.append(candidate)
            used.add(candidate)
    return colors

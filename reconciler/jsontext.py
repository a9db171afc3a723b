"""JSON text for hot paths: a standard-library encoder's settings as one reusable function.

``JSONEncoder.encode`` builds a new C encoder on every call; for thousands of small
documents (a plan's action lines, the audit chain's canonical events) that set-up is a
good part of the cost. :func:`reusable` builds it once. The text is exactly what the
given encoder writes; where the C encoder is missing, or its signature is one this code
does not know, it is the encoder's own ``encode``.
"""

from __future__ import annotations

import json
import json.encoder
from typing import Any, Callable


def reusable(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode`` with the C encoder built once. For acyclic values only: no
    circular-reference markers are kept (every caller builds its values fresh), and the
    encoder must have no ``indent`` (the C encoder's one-line form)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or encoder.indent is not None:
        return encoder.encode
    strings = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
    try:
        # (markers, default, string encoder, indent, key sep, item sep, sort_keys, skipkeys, allow_nan)
        enc = make(
            None,
            encoder.default,
            strings,
            None,
            encoder.key_separator,
            encoder.item_separator,
            encoder.sort_keys,
            encoder.skipkeys,
            encoder.allow_nan,
        )
    except TypeError:  # a future signature: take the portable path
        return encoder.encode
    return lambda value: "".join(enc(value, 0))

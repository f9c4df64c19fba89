"""schemathesis hooks for scripts/schemathesis.

A cursor is valid only when the server issued it (it is signed and bound to the filters), so no
generated value can be a valid one: the document declares its form (the `cursor` pattern) and
says that any other value, even of that form, is 400 `invalid_cursor`. Positive cases therefore
leave `cursor` out; negative cases keep whatever they generate (it must be refused, and is).
"""

import schemathesis


@schemathesis.hook
def map_case(ctx, case):
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    return case

"""Identical pixels under conflicting labels: every copy is held out, naming the others.

Two inputs whose normalized images are byte-identical are one radiograph, whatever their
names or containers say. If their labels differ (a "normal" and a "greenstick" copy),
at least one is wrong and nothing tells which: both (all) copies are rejected with a
reason naming the other file(s), instead of entering the set as one patient with two
answers. Copies whose labels agree are left alone (leakage-check keeps them out of two
splits)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping

from radtune.records import Record, is_ok, reject
from radtune.shards import Shards

STAGE = "annotate"
LABEL_FIELDS = ("age_months", "sex", "fracture_type", "location", "bone_age_months")


def image_digests(records: list[Record], normalized: Shards) -> dict[str, str]:
    """image_id -> SHA-256 of its normalized image, for every ok record."""
    return {
        r["image_id"]: hashlib.sha256(normalized.read(f"{r['image_id']}.jpg")).hexdigest() for r in records if is_ok(r)
    }


def _differences(group: list[Record]) -> str:
    parts = []
    for f in LABEL_FIELDS:
        values = sorted({str(r.get(f)) for r in group})
        if len(values) > 1:
            parts.append(f"{f} {' vs '.join(values)}")
    return ", ".join(parts)


def hold_out_conflicts(records: list[Record], digests: Mapping[str, str]) -> list[Record]:
    """The records, with every copy of an image whose copies disagree on the labels rejected."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if is_ok(r):
            groups[digests[r["image_id"]]].append(r)
    reasons: dict[str, str] = {}
    for group in groups.values():
        differ = _differences(group)
        if len(group) < 2 or not differ:
            continue
        for r in group:
            others = ", ".join(sorted(o["source"] for o in group if o is not r))
            reasons[r["source"]] = (
                f"{r['source']}: identical pixels to {others} but different labels ({differ}); "
                "all copies held out: fix or remove the wrong one"
            )
    return [reject(r, STAGE, reasons[r["source"]]) if is_ok(r) and r["source"] in reasons else r for r in records]

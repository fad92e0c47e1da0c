"""One function per ct_v4 pipeline stage. Each takes the dataset config (``params.dataset``)
and explicit input/output paths, writes its outputs atomically, prints its summary and
returns its counts; the stage scripts only resolve paths and call them.

Layout under ``data_dir`` (suggested; every path is an argument):

  fetched/       dicom/<key with / -> __>.dcm, fetch_log.json, inventory.json (fetch)
  normalized/    images/shard-NNNNN.tar (<image_id>.png), records.json (normalize)
  annotated/     merged.coco.json, no_hem_pool.coco.json, annotate_log.json (annotate)
  splits/        train.coco.json, valid.coco.json, test.coco.json, balance.json (stratify)
  6class_coco/ 4class_coco/ metadata/                                   (augment: see publish)
  validation_report.json                                                 (leakage-check)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from botocore.exceptions import NoCredentialsError
from omegaconf import DictConfig

from radtune.errors import ConfigError
from radtune.executor import map_in_order, worker_path
from radtune.io import read_json, write_json
from radtune.pseudonym import resolve_key
from radtune.records import check_counts, read_records
from radtune.shards import write_normalized
from radtune.stagelog import print_summary
from radtune.variants.ct_v4 import coco, fetch, split, validate
from radtune.variants.ct_v4.constants import CLASSES, POOL, SPLIT_DIRS, SPLITS
from radtune.variants.ct_v4.normalize import normalize_failed, normalize_input
from radtune.variants.ct_v4.s3pool import LOCAL, S3Target, local_pool, make_client, target_from_config


# --------------------------------------------------------------------------- fetch
def stage_fetch(
    cfg: DictConfig,
    *,
    raw_dir: Path,
    out_dir: Path,
    on_get: Callable[[str], None] | None = None,
    after_each: Callable[[dict], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    executor: str = "local",
    address: str | None = None,
) -> dict:
    """Download up to ``fetch.max_images`` pool objects into ``out_dir/dicom`` and write
    ``out_dir/fetch_log.json``. Reads ``raw_dir/<fetch.metadata_csv>`` and, with
    ``fetch.endpoint: local``, serves ``raw_dir/<fetch.seed_dir>`` from a local S3 server.
    With ``executor="dask"`` the cluster's workers download (``on_get`` sees nothing); they
    read S3 credentials from their own environment, none travel with the tasks."""
    started = time.perf_counter()
    f = cfg.fetch
    allowed = fetch.check_allowed(f.allowed_thickness)
    entries = fetch.read_feedback_csv(Path(raw_dir) / f.metadata_csv)
    todo = fetch.plan(entries, f.max_images, bool(f.fp_only))

    def run(target: S3Target) -> list[dict]:
        if executor == "dask" and f.endpoint != LOCAL:  # the workers' own credentials (the local server's are fixed)
            target = replace(target, access_key=None, secret_key=None)
        return fetch.fetch_pool(
            target if executor == "dask" else make_client(target, on_get=on_get),
            f.bucket,
            todo,
            Path(out_dir),
            allowed_thickness=allowed,
            retries=int(f.retries),
            backoff=float(f.backoff_seconds),
            sleep=sleep,
            after_each=after_each,
            executor=executor,
            address=address,
        )

    try:
        if f.endpoint == LOCAL:
            with local_pool(f.bucket, Path(raw_dir) / f.seed_dir) as url:
                results = run(target_from_config(f, url))
        else:
            results = run(target_from_config(f))
    except NoCredentialsError:
        raise ConfigError(
            f"fetch: no S3 credentials for {f.endpoint or 'AWS'}: set the environment variables "
            f"{f.access_key_env} and {f.secret_key_env} (or a boto3 profile)"
            + (" on every Dask worker (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)" if executor == "dask" else "")
        ) from None
    summary = fetch.finish(Path(out_dir), results)
    for r in results:
        if r["status"] in ("rejected", "failed"):
            print(f"fetch: {r['status']} {r['key']}: {r['reason']}", file=sys.stderr)
    print(fetch.format_summary(summary))
    print_summary(
        "fetch",
        started,
        candidates=len(entries),
        attempted=summary["total_attempted"],
        ok=summary["succeeded"],
        skipped=summary["skipped_thickness"],
        failed=summary["failed"],
    )
    return summary


# --------------------------------------------------------------------------- normalize
def normalize_inputs(cfg: DictConfig, raw_dir: Path, fetched_dir: Path) -> list[tuple[Path, str]]:
    """(path, source) of every input: each annotate source's images folder, then the pool."""
    out: list[tuple[Path, str]] = []
    for name, src in cfg.annotate.sources.items():
        folder = Path(raw_dir) / src.images
        out += [(p, f"{name}/{p.relative_to(folder).as_posix()}") for p in sorted(folder.rglob("*")) if p.is_file()]
    pool = Path(fetched_dir) / fetch.DICOM_DIR
    out += [(p, f"{POOL}/{p.name}") for p in sorted(pool.glob("*.dcm"))]
    return out


def stage_normalize(
    cfg: DictConfig,
    *,
    raw_dir: Path,
    fetched_dir: Path,
    out_dir: Path,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
) -> dict:
    """Every source image and fetched slice -> ``<image_id>.png`` in the ``out_dir/images/``
    shards (`radtune.shards`); one record each in ``out_dir/records.json``; in ``jobs`` local
    processes or on the Dask cluster at ``address`` (`radtune.executor`), the same records
    and bytes either way."""
    n = cfg.normalize
    key = resolve_key(cfg.pseudonym)
    inputs = sorted(normalize_inputs(cfg, Path(raw_dir), Path(fetched_dir)), key=lambda i: i[1])  # by source
    one = partial(normalize_input, mode=n.mode, window=n.window, size=int(n.size), key=key)
    results = map_in_order(
        one,
        [(worker_path(p, executor), source) for p, source in inputs],
        on_error=partial(normalize_failed, key=key),
        jobs=jobs,
        executor=executor,
        address=address,
        desc="normalize",
        unit="img",
    )
    tally = write_normalized(Path(out_dir), results, ".png")
    return {"inputs": tally.inputs, "ok": tally.ok, "rejected": tally.inputs - tally.ok}


# --------------------------------------------------------------------------- annotate
def pool_document(fetch_log: dict, records: dict[str, dict]) -> tuple[dict, dict]:
    """The no-hemorrhage pool as COCO with empty annotations (FP/TN in ``feedback``)."""
    images, dropped = [], []
    ok = [o for o in fetch_log["objects"] if o["status"] == "ok"]
    for i, o in enumerate(ok):
        rec = records.get(f"{POOL}/{o['file']}")
        if rec is None or rec["status"] != "ok":
            reason = (
                "image file missing" if rec is None else f"rejected by normalize: {rec['reason'].split(': ', 1)[-1]}"
            )
            dropped.append({"fetch_index": i, "reason": reason})
            continue
        images.append(
            coco.image_entry(
                id=i,
                file_name=f"{rec['image_id']}.png",
                width=rec["width"],
                height=rec["height"],
                patient_id=rec["patient_id"],
                origin=POOL,
                feedback=o["feedback"],
            )
        )
    doc = coco.merge([(images, [])], description="ct-v4 no-hemorrhage pool")
    log = {
        "source": POOL,
        "images_in": len(ok),
        "images_kept": len(images),
        "images_dropped": dropped,
        "annotations_in": 0,
        "annotations_kept": 0,
        "annotations_dropped": [],
        "boxes_clipped": 0,
    }
    return doc, log


def stage_annotate(cfg: DictConfig, *, raw_dir: Path, normalized_dir: Path, fetched_dir: Path, out_dir: Path) -> dict:
    """Remap + merge the labelled sources (``out_dir/merged.coco.json``), the empty pool
    annotations (``out_dir/no_hem_pool.coco.json``) and the log of every drop
    (``out_dir/annotate_log.json``)."""
    started = time.perf_counter()
    records = {r["source"]: r for r in read_records(Path(normalized_dir) / "records.json")}
    parts, logs = [], []
    for name, src in cfg.annotate.sources.items():
        doc = coco.load_coco(Path(raw_dir) / src.annotations)
        cmap = coco.category_map(doc["categories"], dict(src.class_map), list(src.get("drop") or []), name)
        images, anns, log = coco.remap_source(doc, name, cmap, records, name)
        parts.append((images, anns))
        logs.append(log)
        for d in log["images_dropped"]:
            print(f"annotate: {name}: dropped image {d['coco_id']}: {d['reason']}", file=sys.stderr)
        for reason, count in coco.drop_counts(log).items():
            print(f"annotate: {name}: dropped {count} annotation(s): {reason}", file=sys.stderr)
    merged = coco.merge(parts, description="ct-v4 merged 6-class (" + " + ".join(cfg.annotate.sources) + ")")
    pool, pool_log = pool_document(read_json(Path(fetched_dir) / fetch.LOG), records)
    write_json(Path(out_dir) / "merged.coco.json", merged)
    write_json(Path(out_dir) / "no_hem_pool.coco.json", pool)
    totals = {
        "images_in": sum(x["images_in"] for x in logs + [pool_log]),
        "images_kept": len(merged["images"]) + len(pool["images"]),
        "images_dropped": sum(len(x["images_dropped"]) for x in logs + [pool_log]),
        "annotations_in": sum(x["annotations_in"] for x in logs),
        "annotations_kept": len(merged["annotations"]),
        "annotations_dropped": sum(len(x["annotations_dropped"]) for x in logs),
        "boxes_clipped": sum(x["boxes_clipped"] for x in logs),
    }
    check_counts("annotate images", totals["images_in"], kept=totals["images_kept"], dropped=totals["images_dropped"])
    check_counts(
        "annotate annotations",
        totals["annotations_in"],
        kept=totals["annotations_kept"],
        dropped=totals["annotations_dropped"],
    )
    write_json(
        Path(out_dir) / "annotate_log.json",
        {
            "sources": logs,
            "pool": pool_log,
            "totals": totals,
            "dropped_by_reason": {x["source"]: coco.drop_counts(x) for x in logs},
        },
    )
    print(
        f"  Images: {len(pool['images']):,} no-hemorrhage (annotations: 0, empty), "
        f"{len(merged['images']):,} merged; Annotations: {len(merged['annotations']):,}; Categories: {len(CLASSES)}"
    )
    print_summary("annotate", started, **totals)
    return totals


# --------------------------------------------------------------------------- stratify
def split_document(merged: dict, pool: dict, ids: list[int], added: list[dict], description: str) -> dict:
    """One split: its merged images (+ their boxes) then its pool images, ids from 1."""
    keep = set(ids)
    images = [{**im, "id": ("m", im["id"])} for im in merged["images"] if im["id"] in keep]
    images += [{**im, "id": ("p", im["id"])} for im in added]
    anns = [{**a, "image_id": ("m", a["image_id"])} for a in merged["annotations"] if a["image_id"] in keep]
    images, anns = coco.renumber(images, anns)
    return coco.document(images, anns, description=description)


def stage_stratify(cfg: DictConfig, *, annotated_dir: Path, out_dir: Path, seed: int) -> dict:
    """Patient-level split + balancing: ``out_dir/{train,valid,test}.coco.json`` (before
    augmentation) and ``out_dir/balance.json``; prints the seed's balance table."""
    started = time.perf_counter()
    s = cfg.stratify
    ratios = {k: float(s.ratios[k]) for k in SPLITS}
    merged = read_json(Path(annotated_dir) / "merged.coco.json")
    pool = read_json(Path(annotated_dir) / "no_hem_pool.coco.json")
    ids, added, report = split.balance(merged, pool, ratios, seed, float(s.balance_target))
    for k in SPLITS:
        doc = split_document(merged, pool, ids[k], added[k], f"ct-v4 {SPLIT_DIRS[k]} (before augmentation)")
        write_json(Path(out_dir) / f"{SPLIT_DIRS[k]}.coco.json", doc)
    write_json(Path(out_dir) / "balance.json", report)
    print(split.format_balance(report))
    print_summary(
        "stratify",
        started,
        patients=report["patients"],
        images={k: report["after"][k]["images"] for k in SPLITS},
        pool_used=sum(report["distributed"].values()),
        pool_unused=len(report["unused"]),
    )
    return report


# --------------------------------------------------------------------------- leakage-check (validation)
def stage_leakage_check(cfg: DictConfig, *, six_dir: Path, four_dir: Path, report_path: Path) -> dict:
    """The seed's 8 checks -> ``report_path`` (JSON) and the printed report. The stage
    script exits with ``validate.exit_code(report)``."""
    v = cfg.leakage
    report = validate.validate(
        Path(six_dir),
        Path(four_dir),
        classes=CLASSES,
        multiplier=int(cfg.augment.multiplier),
        target=float(cfg.stratify.balance_target),
        tolerance=float(v.balance_tolerance),
        drop_classes=list(cfg.augment.subset.drop_classes),
        empty_images=str(cfg.augment.subset.empty_images),
        phash_max_distance=int(v.phash_max_distance),
        near_duplicate_min_correlation=float(v.near_duplicate_min_correlation),
    )
    write_json(report_path, report)
    print(validate.format_report(report))
    return report

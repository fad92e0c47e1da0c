"""export-jsonl, shared by every variant: the JSONL writer and the dataset registry.

A variant builds its rows (`radtune.variants.<name>`: prompt and target of every record)
with `chat_row`; `write_export` writes them, one line per row sorted by id, to
`<data_dir>/jsonl/<split>.jsonl`:

  id          the row's id (the image id)
  image_path  the image, relative to the data folder
  prompt      the task prompt
  target      the structured answer as compact JSON (keys in the variant's fixed order)
  messages    the same pair in the chat format every VLM processor understands:
              user [{"type":"image"},{"type":"text","text":prompt}], assistant [{"type":"text","text":target}]
  task        (multi-task variants) the row's task; such splits are also written per task,
              `<data_dir>/jsonl/<task>/<split>.jsonl` (without the train mix's repeats, `repeat_of`)

The export is a pure function of the variant's published dataset: same inputs => same bytes.

The dataset registry (`<data_dir>/dataset_registry.yml`) records the provenance id
(`export.dataset_id`), the row counts per split and the positive answers per split, the
content hash of what was exported (sha256 over every JSONL file and every image it
references), the data state of the dataset it was exported from (`radtune.datastate`: the
metrics of the train and eval stages name it), the DVC hashes (dvc.lock) of the dataset
folders it was exported from and the params that made it; the train stage copies id and hashes into the adapter card."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from radtune.errors import InputRejected
from radtune.io import write_text_atomic


def target_text(target: Mapping[str, Any]) -> str:
    """Compact JSON, keys in their given order (the exact text the model learns to write)."""
    return json.dumps(dict(target), separators=(",", ":"), ensure_ascii=False)


def chat_messages(prompt: str, target: str) -> list[dict]:
    return [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]},
        {"role": "assistant", "content": [{"type": "text", "text": target}]},
    ]


def chat_row(row_id: str, image_path: str, prompt: str, target: str) -> dict[str, Any]:
    """One exported line: the seed's prompt / target / image_path view plus chat messages."""
    return {
        "id": row_id,
        "image_path": image_path,
        "prompt": prompt,
        "target": target,
        "messages": chat_messages(prompt, target),
    }


def jsonl_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """One compact JSON object per line, keys in insertion order, UTF-8, trailing newline."""
    return "".join(json.dumps(dict(r), ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_hash(data_dir: Path, jsonl_dir: Path, splits: Iterable[str]) -> str:
    """sha256 over (relative path, sha256) of every exported JSONL file and every image its
    rows reference, in sorted order: it changes iff an exported byte changes."""
    data_dir, jsonl_dir = Path(data_dir), Path(jsonl_dir)
    entries: dict[str, str] = {}
    for split in splits:
        path = jsonl_dir / f"{split}.jsonl"
        entries[f"jsonl/{split}.jsonl"] = sha256_file(path)
        for line in path.read_text(encoding="utf-8").splitlines():
            rel = json.loads(line)["image_path"]
            entries[rel] = sha256_file(data_dir / rel)
    h = hashlib.sha256()
    for rel in sorted(entries):
        h.update(f"{rel}\t{entries[rel]}\n".encode())
    return h.hexdigest()


def locked_hashes(paths: Iterable[str | Path], lock_file: Path = Path("dvc.lock")) -> dict[str, str | None]:
    """The hash DVC recorded in dvc.lock for each of these stage outputs (the upstream stages
    have run, so their entries are there); None where the lock has none (outside DVC)."""
    lock = yaml.safe_load(lock_file.read_text(encoding="utf-8")) if lock_file.is_file() else {}
    found = {
        o["path"]: o.get("md5")
        for stage in ((lock or {}).get("stages") or {}).values()
        for o in stage.get("outs") or []
    }
    return {Path(p).as_posix(): found.get(Path(p).as_posix()) for p in paths}


def registry_entry(
    dataset_id: str,
    rows: Mapping[str, list[dict]],
    digest: str,
    params: Mapping[str, Any],
    positive_key: str,
    dvc_hashes: Mapping[str, str | None] | None = None,
    data_state: str | None = None,
) -> dict[str, Any]:
    counts = {split: len(r) for split, r in rows.items()}
    positives = {split: sum(bool(json.loads(x["target"]).get(positive_key)) for x in r) for split, r in rows.items()}
    tasks = {split: dict(sorted(Counter(x["task"] for x in r if "task" in x).items())) for split, r in rows.items()}
    return {
        "id": dataset_id,
        "format": "jsonl-chat (id, image_path, prompt, target, messages)",
        "files": {split: f"jsonl/{split}.jsonl" for split in rows},
        "counts": counts,
        f"{positive_key}_counts": positives,
        **({"task_counts": tasks} if any(tasks.values()) else {}),
        "content_hash": f"sha256:{digest}",
        **({"data_state": data_state} if data_state else {}),
        "dvc_hashes": dict(dvc_hashes or {}),
        "params": dict(params),
    }


def registry_text(entries: list[dict[str, Any]]) -> str:
    header = (
        "# Written by the export-jsonl stage; do not edit. content_hash: sha256 over every\n"
        "# exported JSONL file and every image its rows reference (see radtune.export).\n"
    )
    return header + yaml.safe_dump({"datasets": entries}, sort_keys=False, allow_unicode=True)


def read_registry_entry(path: Path, dataset_id: str) -> dict[str, Any]:
    """The registry entry for `dataset_id` (the train stage names it in the adapter card)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    for entry in data.get("datasets", []):
        if entry.get("id") == dataset_id:
            return entry
    raise InputRejected(f"{path}: no entry with id {dataset_id!r}; rerun the export-jsonl stage")


def per_task(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """A multi-task split's rows by their `task` field, without the training mix's repeats
    (`repeat_of`); {} for rows without tasks."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if "task" in r and not r.get("repeat_of"):
            out.setdefault(r["task"], []).append(r)
    return out


def write_export(
    data_dir: Path,
    out_dir: Path,
    registry: Path,
    dataset_id: str,
    params: Mapping[str, Any],
    rows: Mapping[str, list[dict]],
    positive_key: str,
    dvc_hashes: Mapping[str, str | None] | None = None,
    data_state: str | None = None,
) -> dict[str, int]:
    """Write `<out_dir>/<split>.jsonl` for each split (every image_path must exist under
    `data_dir`) and the registry entry (with `dvc_hashes`: the DVC hashes of the dataset
    folders it was exported from, see `locked_hashes`, and their `data_state`, see
    `radtune.datastate`); return the row counts."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    for split, split_rows in rows.items():
        for r in split_rows:
            if not (data_dir / r["image_path"]).is_file():
                raise InputRejected(f"{split}: image_path {r['image_path']!r} of {r['id']} not found under {data_dir}")
        write_text_atomic(out_dir / f"{split}.jsonl", jsonl_text(split_rows))
        for task, task_rows in per_task(split_rows).items():
            write_text_atomic(out_dir / task / f"{split}.jsonl", jsonl_text(task_rows))
    digest = content_hash(data_dir, out_dir, list(rows))
    write_text_atomic(
        registry,
        registry_text([registry_entry(dataset_id, rows, digest, params, positive_key, dvc_hashes, data_state)]),
    )
    return {split: len(r) for split, r in rows.items()}


def blank_messages(messages: list[dict], blank_text: Callable[[str], str]) -> list[dict]:
    """`messages` with the user's text turn passed through `blank_text` (the variant's
    prompt blanking; the image is kept)."""
    out = []
    for m in messages:
        if m["role"] == "user" and not isinstance(m["content"], str):
            m = {
                **m,
                "content": [
                    {**c, "text": blank_text(c["text"])} if c.get("type") == "text" else c for c in m["content"]
                ],
            }
        elif m["role"] == "user":
            m = {**m, "content": blank_text(m["content"])}
        out.append(m)
    return out

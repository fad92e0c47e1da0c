"""A tiny PediRad-8K-shaped data folder for the fine-tuning tests (export -> train -> eval).

512x512 8-bit grayscale JPGs of two bright "bones" on a dark background; a fracture is a
clearly visible dark gap with an angulated distal fragment. Annotation JSONs in the
augment stage's layout (`annotations/<split>_annotations.json`, image_path relative)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

TYPES = ("buckle", "greenstick", "transverse", "salter_harris_ii", "oblique")
LOCATIONS = ("distal_radius", "distal_ulna", "radial_shaft", "ulnar_shaft")
CONTEXTS = ("Fell on outstretched hand; wrist pain", "Swelling after trampoline fall", "")


def draw(rng: np.random.Generator, fracture: bool) -> np.ndarray:
    img = np.full((512, 512), 20, np.uint8)
    for x in (190, 310):
        x += int(rng.integers(-15, 16))
        cv2.rectangle(img, (x - 22, 40), (x + 22, 470), 200, -1)
        if fracture and x < 260:
            y = int(rng.integers(200, 330))
            cv2.line(img, (x - 40, y - 12), (x + 40, y + 12), 10, 14)
            cv2.circle(img, (x, y), 55, 120, 6)
    img = img.astype(np.float32) + rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_data_dir(root: Path, n: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Write processed/<split>/*.jpg, annotations/<split>_annotations.json and
    processing_log.json under root."""
    n = n or {"train": 24, "val": 8, "test": 8}
    rng = np.random.default_rng(seed)
    files: list[dict] = []
    for split, count in n.items():
        records = []
        for i in range(count):
            fracture = bool(i % 2 == 0)
            image_id = f"{split[:2]}{i:04d}{seed:02d}"
            rel = f"processed/{split}/{image_id}.jpg"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), draw(rng, fracture), [cv2.IMWRITE_JPEG_QUALITY, 90])
            age = int(rng.integers(2, 145))
            records.append(
                {
                    "image_id": image_id,
                    "image_path": rel,
                    "patient_id": f"P{i:05d}",
                    "age_months": age,
                    "sex": "M" if i % 3 else "F",
                    "fracture": fracture,
                    "fracture_type": TYPES[i % len(TYPES)] if fracture else "none",
                    "location": LOCATIONS[i % len(LOCATIONS)] if fracture else "none",
                    "bone_age_months": None if i % 7 == 3 else float(age + int(rng.integers(-6, 7))),
                    "clinical_context": CONTEXTS[i % len(CONTEXTS)],
                    "quality_score": 0.93,
                    "split": split,
                }
            )
        ann = root / "annotations" / f"{split}_annotations.json"
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(json.dumps(records, indent=2))
        files += [{"source": f"site_a/{r['image_id']}_wrist.dcm", "image_id": r["image_id"]} for r in records]
    # the processing log names every image's input file (eval's predictions name it)
    log = {"inputs": len(files), "processed": len(files), "rejected": 0, "files": files}
    (root / "processing_log.json").write_text(json.dumps(log, indent=2))
    return root


def exported_base(root: Path, n: dict[str, int], model_cfg: dict, seed: int = 0) -> tuple[Path, list[dict], dict]:
    """A data folder (make_data_dir) exported to JSONL and a tiny base built from its train
    text into root/base, as the train stage does it: (data dir, train rows, build info)."""
    from radtune.export import write_export
    from radtune.io import read_jsonl
    from radtune.model.tiny import build_tiny_base
    from radtune.train.run import tokenizer_texts
    from radtune.variants.pedirad_8k.prompts import split_rows

    data = make_data_dir(root / "data", n)
    rows = {split: split_rows(data / "annotations", split) for split in ("train", "val", "test")}
    write_export(data, data / "jsonl", data / "dataset_registry.yml", "pedirad-8k", {}, rows, "fracture")
    rows = read_jsonl(data / "jsonl" / "train.jsonl")
    info = build_tiny_base(model_cfg, tokenizer_texts(rows), root / "base", seed=seed)
    return data, rows, info


REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# The default tiny model, shrunk so that a test trains in seconds.
SMALL_MODEL = {
    "tokenizer.vocab_size": 320,
    "text.hidden_size": 32,
    "text.intermediate_size": 64,
    "text.num_hidden_layers": 1,
    "text.num_attention_heads": 2,
    "text.num_key_value_heads": 1,
    "text.head_dim": 16,
    "vision.image_size": 32,
    "vision.patch_size": 8,
    "vision.hidden_size": 32,
    "vision.intermediate_size": 64,
    "vision.num_hidden_layers": 1,
    "vision.num_attention_heads": 2,
    "mm_tokens_per_image": 4,
}


def compose_params(
    model: str = "tiny_gemma3",
    train: str = "smoke",
    data_dir: str = "data/pedirad-8k",
    model_dir: str = "models/pedirad-8k",
    overrides: dict | None = None,
    small: bool = True,
):
    """params.yaml content as the lead's composition makes it: conf/dataset + our groups."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {
            "seed": 42,
            "jobs": 2,
            "executor": "local",
            "dask_scheduler": None,
            "dataset": OmegaConf.load(CONF / "dataset" / "pedirad_8k.yaml"),
            "model": OmegaConf.load(CONF / "model" / f"{model}.yaml"),
            "train": OmegaConf.load(CONF / "train" / f"{train}.yaml"),
            "export": OmegaConf.load(CONF / "export" / "default.yaml"),
            "eval": OmegaConf.load(CONF / "eval" / "default.yaml"),
            "merge": OmegaConf.load(CONF / "merge" / "default.yaml"),
        }
    )
    cfg.dataset.data_dir, cfg.dataset.model_dir = data_dir, model_dir
    if small and model == "tiny_gemma3":
        for k, v in SMALL_MODEL.items():
            OmegaConf.update(cfg, f"model.{k}", v)
    for k, v in (overrides or {}).items():
        OmegaConf.update(cfg, k, v)
    OmegaConf.resolve(cfg)
    return cfg


def write_params(root: Path, **kwargs) -> Path:
    from omegaconf import OmegaConf

    path = Path(root) / "params.yaml"
    path.write_text(OmegaConf.to_yaml(compose_params(**kwargs)))
    return path

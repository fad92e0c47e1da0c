import numpy as np

from radtune.fingerprint import hamming, hamming_matrix, phash, pixel_sha256, thumbnail
from radtune.leakage import leak_messages, leakage_report


def _image(seed):
    rng = np.random.default_rng(seed)
    img = np.zeros((128, 128), np.uint8)
    for _ in range(6):
        x, y, w, h = rng.integers(0, 100, 4)
        img[y : y + h // 2 + 5, x : x + w // 2 + 5] = rng.integers(50, 255)
    return img


THUMBS: dict[str, np.ndarray] = {}


def _report(recs):
    return leakage_report(recs, 4, 0.98, THUMBS)


def _rec(i, split, patient, img):
    THUMBS[f"img{i}"] = thumbnail(img)
    return {
        "source": f"{i}.dcm",
        "status": "ok",
        "image_id": f"img{i}",
        "patient_id": patient,
        "split": split,
        "pixel_sha256": pixel_sha256(img),
        "phash": phash(img),
    }


def test_phash_tolerates_small_changes_and_separates_different_images():
    a = _image(1)
    noisy = np.clip(a.astype(int) + np.random.default_rng(0).integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    assert hamming(phash(a), phash(noisy)) <= 2
    assert hamming(phash(a), phash(_image(2))) > 10
    m = hamming_matrix([phash(a)], [phash(noisy), phash(_image(2))])
    assert m.shape == (1, 2) and m[0, 0] <= 2 < m[0, 1]


def test_clean_split_passes():
    recs = [_rec(i, s, f"P{i}", _image(i)) for i, s in enumerate(["train", "train", "val", "test"])]
    report = _report(recs)
    assert report["passed"] and leak_messages(report) == []


def test_patient_in_two_splits_is_named():
    recs = [_rec(0, "train", "Pabc", _image(0)), _rec(1, "val", "Pabc", _image(1)), _rec(2, "test", "Pz", _image(2))]
    report = _report(recs)
    assert not report["passed"]
    assert any("Pabc" in line and "train and val" in line for line in leak_messages(report))


def test_exact_and_near_duplicates_across_splits():
    a = _image(3)
    brighter = np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8)
    recs = [
        _rec(0, "train", "P1", a),
        _rec(1, "test", "P2", a.copy()),
        _rec(2, "val", "P3", brighter),
        _rec(3, "val", "P4", _image(9)),
    ]
    report = _report(recs)
    assert [d["image_ids"] for d in report["exact_duplicates"]] == [["img0", "img1"]]
    pairs = {tuple(d["image_ids"]) for d in report["near_duplicates"]}
    assert ("img0", "img2") in pairs and ("img2", "img1") in pairs
    assert all(d["correlation"] >= 0.98 for d in report["near_duplicates"])
    assert not report["passed"]


def test_similar_anatomy_with_close_phash_is_not_a_duplicate():
    a = _image(5)
    b = a.copy()
    b[40:90, 40:90] = 255 - b[40:90, 40:90]  # same layout, different content in a region
    recs = [_rec(10, "train", "P1", a), _rec(11, "test", "P2", b)]
    report = leakage_report(recs, 64, 0.98, THUMBS)
    assert report["near_duplicates"] == [] and report["passed"]


def test_leak_lines_name_the_input_files():
    """issue 11 point 6: leakage lines name the user's files (relative to the raw folder)."""
    from radtune.variants.pedirad_8k.stages import source_names

    a = _image(3)
    recs = [
        _rec(20, "train", "Pabc", a),
        _rec(21, "val", "Pabc", a.copy()),
        {**_rec(22, "train", "Pz", _image(4)), "image_id": "img20_aug1"},
    ]
    THUMBS["img20_aug1"] = THUMBS["img22"]
    log = {"files": [{"image_id": "img20", "source": "train/a.dcm"}, {"image_id": "img21", "source": "val/b.dcm"}]}
    published = [{"image_id": "img20"}, {"image_id": "img21"}, {"image_id": "img20_aug1", "augmented_from": "img20"}]
    names = source_names(published, log)
    assert names == {"img20": "train/a.dcm", "img21": "val/b.dcm", "img20_aug1": "train/a.dcm (augmented copy)"}
    lines = leak_messages(_report(recs), names)
    assert "patient Pabc appears in train and val (2 images: train/a.dcm, val/b.dcm)" in lines
    assert "identical pixels in train and val: images img20 (train/a.dcm), img21 (val/b.dcm)" in lines


def test_fingerprints_read_in_two_processes_equal_one(tmp_path):
    """leakage-check reads the published images in `jobs` processes: same records, same
    thumbnails, same order; an unreadable image still stops it, naming the file."""
    import cv2
    import pytest

    from radtune.errors import ConfigError
    from radtune.leakage import fingerprint

    rng = np.random.default_rng(3)
    annotations = []
    for i in range(9):
        cv2.imwrite(str(tmp_path / f"{i}.png"), rng.integers(0, 256, (48, 40), dtype=np.uint8))
        annotations.append({"image_id": f"i{i}", "image_path": f"{i}.png", "split": "train"})
    one, thumbs_one = fingerprint(annotations, tmp_path, jobs=1)
    two, thumbs_two = fingerprint(annotations, tmp_path, jobs=2)
    assert two == one and [r["image_id"] for r in two] == [f"i{i}" for i in range(9)]
    assert thumbs_two.keys() == thumbs_one.keys()
    assert all(np.array_equal(thumbs_two[k], thumbs_one[k]) for k in thumbs_one)
    (tmp_path / "4.png").write_bytes(b"not an image")
    with pytest.raises(ConfigError, match=r"4\.png: image listed in the annotations cannot be read"):
        fingerprint(annotations, tmp_path, jobs=2)

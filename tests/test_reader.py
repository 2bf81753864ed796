"""ShardWriter / ShardedCache: atomic commit, manifest, checksums, vectorised row gathers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from toss_core.data.reader import MANIFEST, ShardedCache, ShardWriter
from toss_core.util.errors import ArtifactError

SIZES = [5, 1, 7, 4]


def _shards(seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for n in SIZES:
        out.append(
            {
                "x": rng.normal(size=(n, 3)).astype(np.float32),
                "seq": rng.integers(0, 50, size=(n, 4)).astype(np.int32),
                "label": rng.integers(0, 2, size=n).astype(np.float32),
                "id": np.array([f"ROW_{rng.integers(1e6)}" for _ in range(n)]),
            }
        )
    return out


def _write(out: Path, shards: list[dict[str, np.ndarray]]) -> Path:
    with ShardWriter(out, "features") as writer:
        for arrays in shards:
            writer.add(arrays)
        return writer.commit({"columns": {"dense": ["a", "b", "c"]}, "fingerprint": {"cache": "abc"}})


@pytest.fixture
def cache_dir(tmp_path: Path) -> tuple[Path, list[dict[str, np.ndarray]]]:
    shards = _shards()
    return _write(tmp_path / "c", shards), shards


def test_manifest_lists_shards_offsets_and_checksums(cache_dir):
    root, _ = cache_dir
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["format"] == "toss-shards/1" and manifest["kind"] == "features"
    assert manifest["n_rows"] == sum(SIZES)
    assert [s["rows"] for s in manifest["shards"]] == SIZES
    assert [s["offset"] for s in manifest["shards"]] == [0, 5, 6, 13]
    assert manifest["fields"]["x"] == {"dtype": "<f4", "shape": [3]}
    assert set(manifest["versions"]) >= {"toss", "numpy", "polars", "pyarrow"}
    assert all(len(f["crc32"]) == 8 for s in manifest["shards"] for f in s["files"].values())
    cache = ShardedCache(root)
    assert cache.fingerprint == "abc" and cache.spec.dense_cols == ["a", "b", "c"]
    assert cache.verify() == len(SIZES) * 4
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]  # no temp dir left


def test_take_matches_naive_reference_across_shard_boundaries(cache_dir):
    root, shards = cache_dir
    cache = ShardedCache(root)
    ref = {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}
    rng = np.random.default_rng(1)
    idx = np.concatenate([[0, 4, 5, 6, 12, 13, 16, 16, 0], rng.integers(0, cache.n_rows, 200)])
    got = cache.take(idx)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k][idx])
    only = cache.take(idx[::-1], fields=["seq"])
    assert list(only) == ["seq"]
    np.testing.assert_array_equal(only["seq"], ref["seq"][idx[::-1]])
    assert cache.take(np.array([], dtype=np.int64))["x"].shape == (0, 3)
    np.testing.assert_array_equal(cache.read_field("label"), ref["label"])
    assert [off for off, _ in cache.iter_shards(["x"])] == [0, 5, 6, 13]
    with pytest.raises(IndexError, match="17"):
        cache.take(np.array([3, 17]))
    with pytest.raises(KeyError, match="nope"):
        cache.take(np.array([0]), fields=["nope"])


def test_verify_names_a_corrupted_file(cache_dir):
    root, _ = cache_dir
    target = root / "seq.00002.npy"
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"seq\.00002\.npy: checksum mismatch"):
        ShardedCache(root).verify()


def test_failed_write_leaves_no_directory_and_keeps_the_old_cache(tmp_path: Path):
    out = tmp_path / "c"
    with pytest.raises(RuntimeError), ShardWriter(out, "train") as writer:
        writer.add(_shards()[0])
        raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    _write(out, _shards(0))
    before = ShardedCache(out).read_field("x")
    with pytest.raises(RuntimeError), ShardWriter(out, "train") as writer:
        writer.add(_shards(5)[0])
        raise RuntimeError("boom")
    np.testing.assert_array_equal(ShardedCache(out).read_field("x"), before)
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_writer_rejects_inconsistent_shards_and_reserved_keys(tmp_path: Path):
    writer = ShardWriter(tmp_path / "c", "train")
    writer.add({"a": np.zeros((2, 3), np.float32)})
    with pytest.raises(ValueError, match="shape"):
        writer.add({"a": np.zeros((2, 4), np.float32)})
    with pytest.raises(ValueError, match="dtype"):
        writer.add({"a": np.zeros((2, 3), np.int32)})
    with pytest.raises(ValueError, match="rows"):
        writer.add({"a": np.zeros((2, 3), np.float32), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="n_rows"):
        writer.commit({"n_rows": 5})
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_missing_or_foreign_manifest_is_an_artifact_error(tmp_path: Path):
    with pytest.raises(ArtifactError, match="no cache manifest"):
        ShardedCache(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "other/9"}))
    with pytest.raises(ArtifactError, match="other/9"):
        ShardedCache(tmp_path)
    (tmp_path / MANIFEST).write_text("{torn")
    with pytest.raises(ArtifactError, match="unreadable"):
        ShardedCache(tmp_path)


def _file_rss_mb() -> float | None:
    """Resident pages of mapped files (Linux), None where /proc does not say."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    return None


def test_a_pass_over_every_shard_keeps_no_file_mapped(tmp_path):
    """iter_shards drops each shard's maps: after a pass that touched 160 MB of shard files, the
    process does not hold them as resident mapped pages (it would, were the maps kept)."""
    if _file_rss_mb() is None:
        pytest.skip("no RssFile in /proc/self/status on this platform")
    block = np.ones((500_000, 8), dtype=np.float32)  # 16 MB per shard
    root = _write(tmp_path / "big", [{"x": block} for _ in range(10)])
    cache = ShardedCache(root)
    before = _file_rss_mb()
    total = sum(float(arrays["x"].sum()) for _, arrays in cache.iter_shards(["x"]))
    after = _file_rss_mb()
    assert total == 10 * block.size
    assert after is not None and before is not None and after - before < 48  # at most ~one shard mapped

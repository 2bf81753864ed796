"""The config is strict: typos, removed keys and bad values are errors that name the key and the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from test_train import _fold_layout

from toss_core.config import (
    MOVED_KEYS,
    NOTES,
    REMOVED_KEYS,
    ConfigError,
    TossConfig,
    load_config,
    schema_leaf,
    valid_keys,
)
from toss_core.config_doc import DESCRIPTION_MAX
from toss_core.layout import Layout
from toss_core.train import loop
from toss_core.train.paths import checkpoint_path, resume_path
from toss_core.util.atomic import MARKER, atomic_path, write_json

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["smoke", "demo", "dare_qnn_next", "v3_base"])
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_config(REPO / "cfgs" / f"{name}.yaml")
    assert cfg.exp_name == name


def test_unknown_key_names_key_file_and_nearest(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("sequence:\n  top_kk: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "sequence.top_kk" in msg and str(path) in msg and "sequence.top_k" in msg


def test_unknown_section_suggests_nearest_section(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("trian:\n  epochs: 1\n")
    with pytest.raises(ConfigError, match=r"did you mean 'train'\?"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("sequence.top_k=0", "top_k must be a positive"),
        ("model.qnn_alpha.heads=3", "must divide the field width"),
        ("sequence.query_mode=S3", "sequence.query_mode"),
        ("train.lr=-1", "train.lr"),
        ("sequence.query_same_vocab=[nope]", "not in query_key"),
    ],
)
def test_bad_values_fail_clearly(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(REPO / "cfgs" / "smoke.yaml", [override])


def _nested_yaml(key: str, value: str) -> str:
    """`a.b.c` = value as nested YAML."""
    *sections, leaf = key.split(".")
    lines = [f"{'  ' * depth}{name}:" for depth, name in enumerate(sections)]
    return "\n".join([*lines, f"{'  ' * len(sections)}{leaf}: {value}"]) + "\n"


@pytest.mark.parametrize("key", sorted(REMOVED_KEYS))
def test_removed_key_fails_with_its_reason(tmp_path: Path, key: str) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(_nested_yaml(key, "1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{key} is no longer supported: {REMOVED_KEYS[key]}; remove it from {path}"


@pytest.mark.parametrize("key", sorted(MOVED_KEYS))
def test_a_moved_key_fails_with_one_line_naming_its_new_key(tmp_path: Path, key: str) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(_nested_yaml(key, "1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: key '{key}' is now '{MOVED_KEYS[key]}'; rename it"
    assert MOVED_KEYS[key] in valid_keys(TossConfig)  # the new key exists


def test_a_moved_key_in_an_override_or_a_search_space_names_its_new_key() -> None:
    with pytest.raises(ConfigError, match=r"key 'ema' is now 'train\.ema'; rename it"):
        load_config(REPO / "cfgs" / "smoke.yaml", ["ema.decay=0.5"])
    with pytest.raises(ValueError, match=r"'ema\.decay' is now 'train\.ema\.decay'"):
        schema_leaf("ema.decay")
    assert schema_leaf("train.ema.decay") is float


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epochs=true", "train.epochs"),
        ("train.lr=true", "train.lr"),
        ("runtime.num_threads=false", "runtime.num_threads"),
        ("sequence.max_len=3.0", "sequence.max_len"),
        ("cv.n_splits='3'", "cv.n_splits"),
        ("logging.tb=1", "logging.tb"),
        ("data.hash_buckets={hour: true}", "data.hash_buckets"),
    ],
)
def test_values_are_not_coerced(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"key '{key}"):
        load_config(REPO / "cfgs" / "smoke.yaml", [override])


def test_ints_and_exponents_are_floats(tmp_path: Path) -> None:
    path = tmp_path / "lr.yaml"
    path.write_text("train:\n  lr: 3e-4\n  warmup_epochs: 1\n")
    cfg = load_config(path, ["train.ema.decay=5E-1"])
    assert (cfg.train.lr, cfg.train.warmup_epochs, cfg.train.ema.decay) == (3e-4, 1.0, 0.5)
    assert isinstance(cfg.train.warmup_epochs, float)


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    for name, field in model.model_fields.items():
        yield prefix + name, field
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _fields(field.annotation, f"{prefix}{name}.")


def test_every_key_and_section_is_described() -> None:
    assert [key for key, field in _fields(TossConfig) if not (field.description or "").strip()] == []


def test_descriptions_are_one_line() -> None:
    """The why, evidence and caveats belong in NOTES (docs/config.md), not in `--explain`'s one line."""
    long = [
        key
        for key, field in _fields(TossConfig)
        if len(field.description or "") > DESCRIPTION_MAX or "\n" in (field.description or "")
    ]
    assert long == [], f"shorten to one line of <= {DESCRIPTION_MAX} chars, the rest to config/notes.py"


def test_notes_name_existing_keys() -> None:
    """A note on a renamed or removed key would silently vanish from docs/config.md."""
    assert sorted(set(NOTES) - {key for key, _ in _fields(TossConfig)}) == []


def test_overrides_are_typed_and_nested() -> None:
    cfg = load_config(None, ["train.epochs=5", "sequence.col=null", "cv.composite_group=[a, b]"])
    assert cfg.train.epochs == 5
    assert cfg.sequence.col is None
    assert cfg.cv.composite_group == ["a", "b"]


def test_override_without_equals_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        load_config(None, ["train.epochs"])


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_section_fingerprint_tracks_only_named_sections() -> None:
    base = TossConfig()
    other_train = load_config(None, ["train.epochs=9"])
    other_seq = load_config(None, ["sequence.max_len=7"])
    assert base.section_fingerprint("sequence") == other_train.section_fingerprint("sequence")
    assert base.section_fingerprint("sequence") != other_seq.section_fingerprint("sequence")


def test_resume_state_survives_only_changes_that_do_not_shape_training(
    smoke_cached: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold interrupted after its first epoch resumes there under keys outside loop.TRAINING_KEYS
    changed, and starts afresh (dropping the resume state) when a key that shapes training changed."""
    layout = _fold_layout(smoke_cached, tmp_path)
    real_save = loop.save_resume_state

    def save_then_crash(trainer: loop.FoldTrainer) -> None:
        real_save(trainer)
        raise RuntimeError("simulated crash after epoch 1")

    monkeypatch.setattr(loop, "save_resume_state", save_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        loop.train_fold(layout.cfg, layout, 0)
    resume = resume_path(layout, 0)
    saved = resume.read_bytes()

    def next_epoch(override: str) -> int:
        changed = _fold_layout(smoke_cached, tmp_path, override)
        return loop.FoldTrainer(changed.cfg, changed, 0).state.epoch

    kept = [
        "train.eval_batch_size=64",
        "runtime.num_threads=1",
        "train.early_stop_patience=3",
        "train.epochs=3",  # a cap: the schedule does not depend on it
        "runtime.deterministic=true",
        "runtime.amp=true",  # no autocast on CPU: the same fp32 training
        "logging.verbose_steps=3",
        "calibration.iters=5",
        "families=[nn,gbdt]",
        "train.data_on_device=false",  # the same rows in the same order on either data path
        "runtime.compile_mode=max-autotune",
    ]
    assert {o: next_epoch(o) for o in kept} == dict.fromkeys(kept, 1)
    for shaping in [
        "train.lr=0.01",
        "train.lr_decay=0.9",
        "model.emb_dim=4",
        "train.ema.decay=0.5",
        "train.lr_scaling=sqrt",
    ]:
        resume.write_bytes(saved)
        assert next_epoch(shaping) == 0, shaping
        assert not resume.exists(), shaping


def test_layout_resolves_relative_paths_under_root(tmp_path: Path) -> None:
    layout = Layout(load_config(REPO / "cfgs" / "smoke.yaml"), root=tmp_path)
    assert layout.train_cache == tmp_path / "cache/smoke/train"
    assert checkpoint_path(layout, 1) == tmp_path / "runs/smoke/nn/ckpt_fold_1.pt"
    assert layout.oof_path(0, "gbdt") == tmp_path / "runs/smoke/gbdt/oof_fold_0.npz"


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")


def test_atomic_path_replaces_a_directory_it_made(tmp_path: Path) -> None:
    target = tmp_path / "cache"
    for name in ("old.npy", "new.npy"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / name).write_text(name)
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "new.npy"]
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]

"""build_model, the QNN-α layer and loss, the baselines: shapes, formulas by hand, masking, bad configs."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_config

from toss_core.config import ConfigError
from toss_core.models import baselines, build_model, dare, layers, qnn_alpha, wrapper
from toss_core.models.layers import BinnedNumericFields, NumericFields, column_families
from toss_core.models.qnn_alpha import QuadraticLayer, self_ensemble_loss
from toss_core.spec import FeatureSpec

CAT_COLS = [
    "gender",
    "age_group",
    "inventory_id",
    "day_of_week",
    "hour",
    "l_feat_14",
    "l_feat_12",
    "l_feat_11",
]
CARDS = [3, 9, 19, 8, 25, 40, 60, 30]
VOCAB = 30
NUM_COLS = ["feat_a_1", "feat_a_2", "history_b_1", "feat_a_3", "ratio", "history_b_12"]
NUM_FAMILIES = [0, 0, 1, 0, 2, 1]  # feat_a, history_b, ratio (no numeric suffix: its own family)
EMBEDDED_CAT_COLS = CAT_COLS[:5]  # the l_feat ids are features.covis.id_cols: not embedded by default
NUMERIC_ONLY = FeatureSpec([], [], NUM_COLS, [], None, 0, 0)


def make_spec(seq: bool = True, qtok: tuple[str, ...] = (), dense: int = 2) -> FeatureSpec:
    return FeatureSpec(
        cat_cols=CAT_COLS,
        cat_cardinalities=CARDS,
        num_cols=NUM_COLS,
        isna_cols=["feat_a_1", "feat_a_2"],
        seq_col="seq" if seq else None,
        seq_vocab_size=VOCAB if seq else 0,
        max_len=16 if seq else 0,
        qtok_cols=list(qtok),
        dense_cols=[f"covis_{i}" for i in range(dense)],
    )


def make_batch(spec: FeatureSpec, n: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    cat = [torch.randint(0, c, (n,), generator=gen) for c in spec.cat_cardinalities]
    batch = {
        "cat": torch.stack(cat, 1) if cat else torch.zeros(n, 0, dtype=torch.long),
        "num": torch.randn(n, len(spec.num_cols), generator=gen) * 50,
        "isna": torch.randint(0, 2, (n, len(spec.isna_cols)), generator=gen).float(),
        "dense": torch.rand(n, len(spec.dense_cols), generator=gen),
    }
    if spec.has_sequence:
        seq_len = torch.randint(0, spec.max_len + 1, (n,), generator=gen)
        seq_len[:3] = torch.tensor([0, 1, 2])
        seq = torch.randint(1, spec.seq_vocab_size, (n, spec.max_len), generator=gen)
        batch["seq"] = seq * (torch.arange(spec.max_len) < seq_len[:, None])
        batch["seq_len"] = seq_len
    if spec.qtok_cols:
        batch["qtok"] = torch.randint(1, spec.seq_vocab_size, (n, len(spec.qtok_cols)), generator=gen)
    return batch


def build(*overrides: str, spec: FeatureSpec | None = None, head: str | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(spec or make_spec(), make_config(*overrides), head).eval()


@pytest.mark.parametrize(
    ("overrides", "head"),
    [
        ((), None),
        (("model.head=mlp",), None),
        (("model.head=dcnv2", "model.interaction_layers=3"), None),
        ((), "dcnv2"),
        (("model.qnn_alpha.pair_grouping=field", "model.qnn_alpha.heads=4"), None),
        (("model.qnn_alpha.use_se=true", "model.qnn_alpha.proj_dim=4", "model.qnn_alpha.norm=batch"), None),
        (("model.qnn_alpha.norm=none", "model.qnn_alpha.use_residual=false"), None),
        (("model.numeric_fields=per_column",), None),
        (("model.numeric_fields=binned", "model.numeric_bins=4"), None),
        (
            (
                "sequence.query_mode=S1",
                "sequence.attn_dim=4",
                "model.embed_id_cols=true",
                "sequence.query_key=[inventory_id, l_feat_14]",
                "model.cat_embedding_dims={l_feat_14: 12}",
            ),
            None,
        ),
        (("sequence.transformer_block=true", "sequence.full_softmax=true", "model.dare_dropout=0.2"), None),
    ],
)
def test_model_variants_give_finite_logits_and_ignore_padding(
    overrides: tuple[str, ...], head: str | None
) -> None:
    spec = make_spec()
    model = build(*overrides, spec=spec, head=head)
    batch = make_batch(spec)
    logits = model(batch)
    assert logits.shape == (8,) and torch.isfinite(logits).all()
    pad = torch.arange(spec.max_len) >= batch["seq_len"][:, None]
    batch["seq"] = torch.where(pad, torch.randint(1, VOCAB, batch["seq"].shape), batch["seq"])
    torch.testing.assert_close(model(batch), logits, rtol=0, atol=1e-6)
    model.train()
    model(batch).sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())


def test_head_choice_builds_the_named_head() -> None:
    assert type(build().head).__name__ == "QNNAlpha"
    assert type(build("model.head=mlp").head).__name__ == "MLPHead"
    assert type(build("model.head=dcnv2").head).__name__ == "DCNv2Head"
    assert type(build(head="dcnv2").head).__name__ == "DCNv2Head"


def test_mlp_head_normalises_its_flattened_input() -> None:
    """Fields start at embedding scale (std ~0.05); the MLP head must see them at unit scale to learn."""
    model = build("model.head=mlp")
    head = model.head
    fields = torch.randn(8, model.n_fields, head.norm.normalized_shape[0] // model.n_fields) * 0.05
    out = head.mlp.net[0](head.norm(fields.flatten(1)))
    assert out.std().item() > 0.1
    unit = fields * 20.0
    torch.testing.assert_close(head(unit * 3.0), head(unit), rtol=1e-4, atol=1e-4)  # scale-free


def test_model_without_sequence() -> None:
    spec = make_spec(seq=False, dense=0)
    model = build(spec=spec)
    assert model.dare is None
    assert model.n_fields == len(EMBEDDED_CAT_COLS) + 3 + 1  # cat + 3 numeric families + one null-mask field
    batch = make_batch(spec)
    assert "seq" not in batch
    assert model(batch).shape == (8,)


def test_column_families_group_by_name_without_numeric_suffix() -> None:
    assert column_families(NUM_COLS) == NUM_FAMILIES
    toss = [*(f"l_feat_{i}" for i in (1, 2, 13)), "feat_e_3", "history_a_1", "history_a_7", "age", "age_1"]
    assert column_families(toss) == [0, 0, 0, 1, 2, 2, 3, 4]  # "age" is not in the age_<n> family


@pytest.mark.parametrize(
    ("mode", "n_num_fields", "n_dense_fields"), [("grouped", 3, 1), ("binned", 3, 1), ("per_column", 6, 3)]
)
def test_numeric_fields_mode_sets_the_field_count(mode: str, n_num_fields: int, n_dense_fields: int) -> None:
    spec = make_spec(dense=3)
    model = build(f"model.numeric_fields={mode}", spec=spec)
    n_seq = 3  # DARE's target, interest, target ⊙ interest
    assert model.n_fields == len(EMBEDDED_CAT_COLS) + n_seq + n_num_fields + 1 + n_dense_fields
    assert model.fields(make_batch(spec)).shape[:2] == (8, model.n_fields)


@pytest.mark.parametrize("mode", ["grouped", "binned", "per_column"])
def test_each_numeric_column_feeds_exactly_its_own_field(mode: str) -> None:
    spec = make_spec()
    model = build(f"model.numeric_fields={mode}", spec=spec)
    families = NUM_FAMILIES if mode != "per_column" else list(range(len(NUM_COLS)))
    values = torch.randn(4, len(NUM_COLS)) * 20
    if mode == "binned":
        model.fit_bins({"num": torch.randn(200, len(NUM_COLS)) * 20})
    base = model.num(values)
    for j, field in enumerate(families):
        moved = values.clone()
        moved[:, j] += 5.0
        changed = (model.num(moved) - base).abs().amax(dim=(0, 2)) > 0
        assert changed.nonzero().flatten().tolist() == [field], NUM_COLS[j]


def test_numeric_bin_edges_are_the_training_quantiles() -> None:
    model = build("model.numeric_fields=binned", "model.numeric_bins=8")
    assert model.num.edges.shape == (len(NUM_COLS), 7)
    sample = torch.randn(501, len(NUM_COLS)) * torch.arange(1, len(NUM_COLS) + 1) + 3
    model.fit_bins({"num": sample})
    expected = np.quantile(sample.numpy(), np.arange(1, 8) / 8, axis=0).T
    np.testing.assert_allclose(model.num.edges.numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"model\.numeric_fields=binned"):
        build().fit_bins({"num": sample})


@pytest.mark.parametrize(("mode", "n_dense_fields"), [("grouped", 1), ("per_column", 3)])
def test_dense_bins_fit_each_co_visitation_feature_on_its_training_quantiles(
    mode: str, n_dense_fields: int
) -> None:
    spec = make_spec(dense=3)
    model = build(f"model.numeric_fields={mode}", "model.dense_bins=8", spec=spec)
    assert model.binned_inputs == ["dense"] and model.dense.n_fields == n_dense_fields
    rates = torch.rand(400, 3) ** torch.tensor([1.0, 3.0, 0.3])  # click rates, each skewed its own way
    model.fit_bins({"dense": rates})
    expected = np.quantile(rates.numpy(), np.arange(1, 8) / 8, axis=0).T
    np.testing.assert_allclose(model.dense.edges.numpy(), expected, rtol=1e-5, atol=1e-5)
    # the piecewise-linear part is what the dense fields add: a feature's field bends at its edges
    batch = make_batch(spec, n=4)
    moved = {**batch, "dense": batch["dense"].clone()}
    moved["dense"][:, 1] = expected[1, -1] + 0.01  # past its last edge: every ramp of feature 1 is full
    assert not torch.allclose(model.dense(moved["dense"]), model.dense(batch["dense"]))
    assert build("model.dense_bins=0", spec=spec).binned_inputs == []  # off: linear only, no edges to fit
    assert build(spec=spec).binned_inputs == []  # auto before the id trial settled it: off


@pytest.mark.parametrize("bins", [-1, 1, 2])
def test_dense_bins_below_three_are_refused(bins: int) -> None:
    with pytest.raises(ConfigError, match="dense_bins"):
        build(f"model.dense_bins={bins}")


def test_binned_fields_are_piecewise_linear_between_edges() -> None:
    fields = BinnedNumericFields([0], 2, n_bins=4)
    fields.edges.copy_(torch.tensor([[0.0, 1.0, 3.0]]))
    x = torch.tensor([[-5.0], [0.5], [2.0], [9.0]])
    ramps = fields.ramps(x)[:, 0]
    torch.testing.assert_close(ramps, torch.tensor([[0.0, 0.0], [0.5, 0.0], [1.0, 0.5], [1.0, 1.0]]))
    signed_log = torch.sign(x) * torch.log1p(x.abs())
    expected = signed_log * fields.weight[0] + ramps @ fields.ramp_weight[0] + fields.bias[0]
    torch.testing.assert_close(fields(x)[:, 0], expected)


def test_constant_numeric_column_gives_finite_binned_fields_and_gradients() -> None:
    fields = BinnedNumericFields([0, 0, 1], 4, n_bins=6)
    sample = torch.randn(100, 3)
    sample[:, 1] = 7.0  # constant column: all its edges equal
    sample[:50, 2] = 0.0  # point mass: several equal edges
    fields.fit_edges(sample)
    assert (fields.edges[1] == 7.0).all()
    x = torch.tensor([[0.0, 7.0, 0.0], [1.0, 8.0, 0.5], [-1.0, -3.0, -0.5]])
    out = fields(x)
    out.square().sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in fields.parameters())
    # A repeated edge is a step at that value: above 7 every interval of column 1 is passed, at 7 none.
    torch.testing.assert_close(fields.ramps(x)[:, 1].sum(-1), torch.tensor([0.0, 4.0, 0.0]))


def test_binned_model_overfits_a_tiny_batch_with_a_non_monotone_target() -> None:
    spec = NUMERIC_ONLY
    model = build("model.numeric_fields=binned", "model.head_dropout=0.0", spec=spec).train()
    batch = make_batch(spec, n=32, seed=3)
    model.fit_bins({"num": batch["num"]})
    y = (batch["num"][:, 0].abs() < batch["num"][:, 0].abs().median()).float()  # |x| small: a bump in x
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(batch), y).backward()
        opt.step()
    model.eval()
    assert F.binary_cross_entropy_with_logits(model(batch), y).item() < 0.05


def test_per_column_fields_are_the_per_column_formula() -> None:
    torch.manual_seed(0)
    fields = NumericFields(list(range(3)), 4)
    x = torch.tensor([[-3.0, 0.0, 10.0]])
    expected = torch.sign(x).unsqueeze(-1) * torch.log1p(x.abs()).unsqueeze(-1) * fields.weight + fields.bias
    torch.testing.assert_close(fields(x), expected)


def test_sequence_changes_the_logit() -> None:
    spec = make_spec()
    model = build(spec=spec)
    batch = make_batch(spec)
    other = dict(batch, seq_len=torch.full_like(batch["seq_len"], spec.max_len))
    assert not torch.allclose(model(batch), model(other))


def test_same_vocab_query_reads_qtok_through_the_attention_table() -> None:
    spec = make_spec(qtok=("inventory_id",))
    model = build(
        "sequence.query_key=[inventory_id, hour]",
        "sequence.query_same_vocab=[inventory_id]",
        "sequence.query_mode=S1",
        spec=spec,
    )
    assert model.query_cat_idx.tolist() == [model.embedded_cat_cols.index("hour")]
    batch = make_batch(spec)
    model(batch).sum().backward()
    grad = model.dare.attn_table.weight.grad
    assert grad[batch["qtok"][:, 0]].abs().sum(1).gt(0).all()
    changed = dict(batch, qtok=(batch["qtok"] % (VOCAB - 1)) + 1)
    assert not torch.allclose(model(batch), model(changed))


def test_pair_grouping_none_and_field_differ() -> None:
    spec = make_spec()
    batch = make_batch(spec)
    none = build("model.qnn_alpha.heads=2", spec=spec)
    field = build("model.qnn_alpha.heads=2", "model.qnn_alpha.pair_grouping=field", spec=spec)
    assert sum(p.numel() for p in field.parameters()) < sum(p.numel() for p in none.parameters())
    assert not torch.allclose(none(batch), field(batch))


def test_quadratic_layer_none_matches_the_formula() -> None:
    torch.manual_seed(0)
    heads, rank, n_fields, width = 2, 3, 3, 4
    layer = QuadraticLayer(n_fields, width, heads, rank, None, 0.0, "none", True)
    x = torch.randn(5, n_fields * width)
    h = F.gelu(x @ layer.linear.weight.T + layer.linear.bias).view(5, heads, rank, -1)
    expected = (x.view(5, heads, 1, -1) * h).sum(2).reshape(5, -1) + x
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("n_fields", [4, 5])
def test_quadratic_layer_field_grouping_keeps_pairs_within_groups(n_fields: int) -> None:
    torch.manual_seed(0)
    width, heads = 2, 2
    layer = QuadraticLayer(n_fields, width, heads, 2, [3, 2] if n_fields == 5 else [2, 2], 0.0, "none", False)
    x = torch.randn(6, n_fields * width)
    split = (3 if n_fields == 5 else 2) * width  # group 0 = the first fields, group 1 the rest
    y = x.clone()
    y[:, split:] += torch.randn(6, n_fields * width - split)
    out_x, out_y = layer(x), layer(y)
    torch.testing.assert_close(out_x[:, :split], out_y[:, :split])  # group 0 never sees group 1
    assert not torch.allclose(out_x[:, split:], out_y[:, split:])
    # group 0 by hand: its own coordinates times GELU of its own block of W
    g0 = x[:, :split]
    slot = layer.weight.shape[1]
    h = F.gelu(g0 @ layer.weight[0][:split] + layer.bias[0]).view(6, 2, slot)[:, :, :split]
    torch.testing.assert_close(out_x[:, :split], (g0.unsqueeze(1) * h).sum(1))


def test_self_ensemble_loss_matches_formula() -> None:
    z1 = torch.tensor([0.3, -1.2, 2.0, 0.0])
    z2 = torch.tensor([-0.5, 0.4, 1.0, 3.0])
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    w = 0.3
    p1, p2, pe = torch.sigmoid(z1), torch.sigmoid(z2), torch.sigmoid((z1 + z2) / 2)

    def bce(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()

    expected = bce(pe, y) + w * (bce(p1, pe) + bce(p2, pe))
    torch.testing.assert_close(self_ensemble_loss(z1, z2, y, w), expected)
    # ŷ is detached inside the consistency terms: z1's gradient is the ensemble term plus its own pull only
    z1.requires_grad_(True)
    self_ensemble_loss(z1, z2, y, w).backward()
    torch.testing.assert_close(z1.grad, (0.5 * (pe - y) + w * (p1 - pe)) / 4)


def test_id_columns_reach_the_network_only_when_embedded() -> None:
    spec = make_spec()
    ids = [CAT_COLS.index(c) for c in ("l_feat_14", "l_feat_12", "l_feat_11")]
    batch = make_batch(spec)
    other_ids = batch["cat"].clone()
    other_ids[:, ids] = (other_ids[:, ids] + 1) % torch.tensor([CARDS[i] for i in ids])
    changed = dict(batch, cat=other_ids)

    default = build(spec=spec)  # ids are left to their out-of-fold click rates
    assert default.embedded_cat_cols == EMBEDDED_CAT_COLS
    torch.testing.assert_close(default(batch), default(changed))
    embedded = build("model.embed_id_cols=true", spec=spec)
    assert embedded.embedded_cat_cols == CAT_COLS and embedded.n_fields == default.n_fields + 3
    assert not torch.allclose(embedded(batch), embedded(changed))


def test_query_on_an_unembedded_id_column_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"sequence\.query_key names \['l_feat_14'\].*model\.embed_id_cols"):
        make_config("sequence.query_key=[inventory_id, l_feat_14]", "model.embed_id_cols=false")
    with pytest.raises(ValueError, match=r"sequence\.query_key names \['l_feat_14'\]"):
        make_config("sequence.query_key=[inventory_id, l_feat_14]", "model.embed_id_cols=[l_feat_12]")
    make_config("sequence.query_key=[inventory_id, l_feat_14]")  # auto embeds what the query needs


@pytest.mark.parametrize("spec", [make_spec(), NUMERIC_ONLY], ids=["all_inputs", "grouped_numerics_only"])
def test_tiny_model_overfits_a_tiny_batch(spec: FeatureSpec) -> None:
    model = build("model.head_dropout=0.0", spec=spec).train()
    batch = make_batch(spec, n=32, seed=3)
    y = (torch.arange(32) % 2).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        loss = self_ensemble_loss(model(batch), model(batch), y, 0.1)
        loss.backward()
        opt.step()
    model.eval()
    assert F.binary_cross_entropy_with_logits(model(batch), y).item() < 0.05


@pytest.mark.parametrize(
    ("overrides", "head", "key"),
    [
        (("sequence.attn_dim=0",), None, "sequence.attn_dim"),
        (("sequence.query_key=[feat_a_0]",), None, "sequence.query_key"),
        (("sequence.query_same_vocab=[inventory_id]",), None, "sequence.query_same_vocab"),
        (("model.cat_embedding_dims={nope: 4}",), None, "model.cat_embedding_dims"),
        (("model.cat_embedding_dims={l_feat_14: 4}",), None, "model.embed_id_cols=true"),
        (("model.cat_embedding_dims={hour: 0}",), None, "model.cat_embedding_dims"),
        ((), "transformer", "model head"),
    ],
)
def test_bad_configs_raise_naming_the_key(overrides: tuple[str, ...], head: str | None, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        build(*overrides, head=head)


def test_field_grouping_needs_as_many_fields_as_heads() -> None:
    spec = FeatureSpec([], [], ["a", "b"], [], None, 0, 0)  # two numeric fields
    with pytest.raises(ValueError, match=r"model\.qnn_alpha\.heads=4"):
        build("model.qnn_alpha.pair_grouping=field", "model.qnn_alpha.heads=4", spec=spec)


def test_state_dict_round_trip_rebuilds_the_same_model() -> None:
    spec = make_spec(qtok=("inventory_id",))
    overrides = ("sequence.query_same_vocab=[inventory_id]", "model.cat_embedding_dims={hour: 4}")
    model = build(*overrides, spec=spec)
    model.dare.recency_beta.data.fill_(0.3)
    fresh = build_model(FeatureSpec.from_dict(spec.to_dict()), make_config(*overrides)).eval()
    fresh.load_state_dict(model.state_dict())
    batch = make_batch(spec)
    torch.testing.assert_close(fresh(batch), model(batch))


def test_binned_round_trip_keeps_the_fitted_edges() -> None:
    spec = make_spec()
    overrides = ("model.numeric_fields=binned",)
    model = build(*overrides, spec=spec)
    model.fit_bins({"num": torch.randn(300, len(NUM_COLS)) * 30})
    assert "num.edges" in model.state_dict()
    fresh = build_model(FeatureSpec.from_dict(spec.to_dict()), make_config(*overrides)).eval()
    assert not torch.equal(fresh.num.edges, model.num.edges)
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh.num.edges, model.num.edges)
    batch = make_batch(spec)
    torch.testing.assert_close(fresh(batch), model(batch))


def test_rare_ids_share_the_unknown_row_and_the_mapping_is_saved():
    """model.id_min_count: ids below the count embed exactly like id 0; a rebuilt model loads the mapping."""
    spec = make_spec(seq=False, dense=0)
    model = build(spec=spec)
    counts = [torch.full((card,), 100) for card in spec.cat_cardinalities]
    counts[0][2] = 3  # gender value 2 was seen in 3 training rows only
    model.keep_frequent_ids(counts, min_count=5)
    batch = make_batch(spec, n=4)
    batch["cat"][:, 0] = torch.tensor([2, 0, 1, 2])
    fields = model.cat(batch["cat"][:, model.cat_idx])
    torch.testing.assert_close(fields[0, 0], fields[1, 0])  # rare value 2 → the unknown row
    torch.testing.assert_close(fields[3, 0], fields[1, 0])
    assert not torch.allclose(fields[2, 0], fields[1, 0])  # frequent value 1 keeps its own row
    rebuilt = build(spec=spec)
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.cat(batch["cat"][:, rebuilt.cat_idx]), fields)


def test_embedding_penalty_pulls_every_row_of_the_tables_towards_zero():
    """model.emb_l2's term reads the tables, not the batch: its gradient is E on every row, including
    rows no batch used (the rare values it is meant to hold near zero)."""
    spec = make_spec(seq=False, dense=0)
    model = build(spec=spec)
    model.zero_grad()
    penalty = model.embedding_penalty()
    assert penalty is not None
    penalty.backward()
    for table in model.cat.tables:
        torch.testing.assert_close(table.weight.grad, table.weight.detach())
    expected = sum(float(t.weight.detach().pow(2).sum()) for t in model.cat.tables) / 2
    assert float(penalty) == pytest.approx(expected, rel=1e-6)


def test_every_public_layer_documents_its_arguments_and_shapes():
    """torchrec-style docs: each public nn.Module of toss_core.models has an Args and a Shapes block."""
    found = [
        cls
        for module in (layers, dare, qnn_alpha, baselines, wrapper)
        for name, cls in vars(module).items()
        if inspect.isclass(cls) and issubclass(cls, torch.nn.Module) and cls.__module__ == module.__name__
        if not name.startswith("_")
    ]
    assert len(found) == 13
    undocumented = [c.__name__ for c in found if "Args:" not in c.__doc__ or "Shapes" not in c.__doc__]
    assert undocumented == []

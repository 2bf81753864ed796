"""DARE encoder: masking, short sequences, top-k against a brute-force reference, decoupled gradients."""

from __future__ import annotations

import math

import pytest
import torch

from toss_core.config import TfmConfig
from toss_core.models.dare import DAREEncoder

VOCAB, EMB, ATTN, L = 50, 8, 4, 12


def make_encoder(**kw) -> DAREEncoder:
    args = {
        "vocab_size": VOCAB,
        "emb_dim": EMB,
        "attn_dim": ATTN,
        "top_k": 4,
        "recency_tau": 5.0,
        "query_mode": "concat",
        "n_query_fields": 2,
        "query_field_dim": 6,
        "n_query_tokens": 0,
        "recent_k": 3,
        "full_softmax": False,
        "dropout": 0.0,
        "tfm": None,
    }
    args.update(kw)
    torch.manual_seed(0)
    return DAREEncoder(**args).eval()


def make_inputs(lengths: list[int], n_query_fields: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    seq_len = torch.tensor(lengths)
    seq = torch.randint(1, VOCAB, (len(lengths), L), generator=gen)
    seq = seq * (torch.arange(L) < seq_len[:, None])
    return {
        "seq": seq,
        "seq_len": seq_len,
        "query_fields": torch.randn(len(lengths), n_query_fields, 6, generator=gen),
    }


MODES = [
    {"query_mode": "S1"},
    {"query_mode": "S2"},
    {"query_mode": "concat"},
    {"full_softmax": True},
    {"tfm": TfmConfig(n_layers=1, n_heads=2, dropout=0.0, ffn_hidden=16)},
]


@pytest.mark.parametrize("kw", MODES)
def test_padding_never_changes_the_output(kw: dict) -> None:
    enc = make_encoder(**kw)
    inputs = make_inputs([0, 1, 3, 7, L])
    out = enc(**inputs)
    assert out.shape == (5, 3, EMB)
    assert torch.isfinite(out).all()
    noisy = dict(inputs)
    pad = torch.arange(L) >= inputs["seq_len"][:, None]
    noisy["seq"] = torch.where(pad, torch.randint(1, VOCAB, (5, L)), inputs["seq"])
    assert not torch.equal(noisy["seq"], inputs["seq"])
    torch.testing.assert_close(enc(**noisy), out, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kw", MODES)
def test_length_zero_one_and_shorter_than_k(kw: dict) -> None:
    enc = make_encoder(**kw)
    inputs = make_inputs([0, 1, 2])
    res = enc.encode(**inputs)
    assert torch.isfinite(res.fields).all()
    interest = res.fields[:, 1]
    assert torch.equal(interest[0], torch.zeros(EMB))  # empty history -> zero interest
    assert torch.equal(res.weights[0], torch.zeros_like(res.weights[0]))
    for row, n in ((1, 1), (2, 2)):  # only real tokens carry weight, and they carry all of it
        real = res.positions[row] < n
        assert res.weights[row][~real].abs().max() == 0
        assert res.weights[row][real].sum().item() == pytest.approx(1.0, abs=1e-6)
    if "tfm" not in kw:
        token = inputs["seq"][1, 0]
        torch.testing.assert_close(interest[1], enc.repr_table.weight[token])


def test_top_k_matches_brute_force_reference() -> None:
    enc = make_encoder(query_mode="S2", top_k=4)
    with torch.no_grad():
        enc.recency_beta.fill_(0.7)
    lengths = [1, 3, 4, 9, L]
    inputs = make_inputs(lengths)
    res = enc.encode(**inputs)
    a, r = enc.attn_table.weight.detach(), enc.repr_table.weight.detach()
    for row, n in enumerate(lengths):
        tokens = inputs["seq"][row, :n]
        query = a[tokens[max(0, n - 3) :]].mean(0)  # S2: mean of the last recent_k=3 attention embeddings
        age = torch.arange(n - 1, -1, -1, dtype=torch.float32)
        scores = a[tokens] @ query / math.sqrt(ATTN) - 0.7 * age / 5.0
        torch.testing.assert_close(res.scores[row, :n], scores)
        order = sorted(range(n), key=lambda i: -scores[i].item())[:4]
        weights = torch.softmax(scores[order], dim=0)
        expected = (weights[:, None] * r[tokens[order]]).sum(0)
        torch.testing.assert_close(res.fields[row, 1], expected)


def test_full_softmax_weights_every_real_token() -> None:
    enc = make_encoder(full_softmax=True, top_k=2)
    res = enc.encode(**make_inputs([7]))
    assert res.weights.shape == (1, L)
    assert (res.weights[0, :7] > 0).all() and (res.weights[0, 7:] == 0).all()


def test_recency_prefers_newest_among_equal_tokens() -> None:
    enc = make_encoder(query_mode="S1")
    inputs = make_inputs([6])
    inputs["seq"][0, :6] = 5  # same token everywhere: only the recency term differs
    res = enc.encode(**inputs)
    assert res.positions[0, 0].item() == 5
    assert res.weights[0, 0] > res.weights[0, 1] > 0


def test_gradients_reach_both_tables() -> None:
    enc = make_encoder(query_mode="S1").train()  # S1: the attention table is used for scoring only
    inputs = make_inputs([5, 9, L])
    res = enc.encode(**inputs)
    res.fields.sum().backward()
    picked = inputs["seq"].gather(1, res.positions)[res.weights > 0].unique()
    others = torch.ones(VOCAB, dtype=torch.bool)
    others[picked] = False
    repr_grad = enc.repr_table.weight.grad.abs().sum(1)
    assert repr_grad[picked].gt(0).all()  # representation: through the weighted sum of retrieved tokens
    assert repr_grad[others].eq(0).all()
    assert enc.attn_table.weight.grad[picked].abs().sum(1).gt(0).all()  # attention: through the scores
    assert enc.recency_beta.grad is not None and enc.recency_beta.grad != 0


def test_same_vocab_query_uses_the_attention_embedding() -> None:
    enc = make_encoder(query_mode="S1", n_query_fields=0, n_query_tokens=1)
    inputs = make_inputs([6, L], n_query_fields=0)
    qtok = torch.tensor([[3], [7]])
    res = enc.encode(inputs["seq"], inputs["seq_len"], None, qtok)
    a, r = enc.attn_table.weight.detach(), enc.repr_table.weight.detach()
    for row, n in enumerate([6, L]):
        age = torch.arange(n - 1, -1, -1, dtype=torch.float32)
        expected = a[inputs["seq"][row, :n]] @ a[qtok[row, 0]] / math.sqrt(ATTN) - age / 5.0
        torch.testing.assert_close(res.scores[row, :n], expected)
    # the target side of the same token is its representation embedding (through the target projection)
    target = enc.target_proj(r[qtok[:, 0]])
    torch.testing.assert_close(res.fields[:, 0], target)


def test_dropout_only_in_training() -> None:
    enc = make_encoder(dropout=0.5)
    inputs = make_inputs([L, L])
    torch.testing.assert_close(enc(**inputs), enc(**inputs))
    enc.train()
    assert not torch.equal(enc(**inputs), enc(**inputs))


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"attn_dim": 0}, "sequence.attn_dim"),
        ({"tfm": TfmConfig(n_heads=3)}, "sequence.tfm.n_heads"),
        ({"n_query_fields": 0, "n_query_tokens": 0}, "sequence.query_key"),
    ],
)
def test_bad_settings_name_the_key(kw: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        make_encoder(**kw)

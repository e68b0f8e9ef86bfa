"""The bag-of-words expert of text models (adapters/lexicon.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from quorum_inference.adapters import lexicon

GOOD = ["great", "wonderful", "moving", "brilliant", "charming"]
BAD = ["awful", "dull", "tedious", "boring", "clumsy"]
FILLER = ["the film", "this movie", "a story", "the cast", "its ending"]


def reviews(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        word = rng.choice(GOOD if label else BAD)
        texts.append(f"{rng.choice(FILLER)} is {word} and {rng.choice(FILLER)} too")
        labels.append(label)
    return texts, np.array(labels, dtype=np.int64)


def test_features_are_sklearns_tfidf_of_the_fitted_vocabulary() -> None:
    texts, labels = reviews(80, seed=0)
    fitted = lexicon.fit(texts, labels, 2)
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=lexicon.MAX_TERMS).fit(
        texts
    )
    unseen = ["the film is great great and dull", "nothing known here", "this movie is boring"]
    assert fitted.vocabulary == list(reference.get_feature_names_out())
    np.testing.assert_allclose(
        fitted.features(unseen).toarray(), reference.transform(unseen).toarray(), atol=1e-12
    )


def test_binary_log_probabilities_are_the_logistic_regressions() -> None:
    texts, labels = reviews(120, seed=1)
    fitted = lexicon.fit(texts, labels, 2)
    x = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    reference = LogisticRegression(C=lexicon.C, max_iter=2000).fit(x.transform(texts), labels)
    unseen, _ = reviews(30, seed=2)
    expected = np.log(reference.predict_proba(x.transform(unseen)))
    np.testing.assert_allclose(fitted.log_probs(unseen), expected, atol=1e-5)


def test_it_learns_the_words_that_decide_the_label() -> None:
    texts, labels = reviews(200, seed=3)
    fitted = lexicon.fit(texts, labels, 2)
    logp = fitted.log_probs(["a story is brilliant", "its ending is tedious"])
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-5)
    assert logp.argmax(axis=1).tolist() == [1, 0]
    assert np.exp(logp.max(axis=1)).min() > 0.8


def test_a_class_without_labels_is_never_the_pick() -> None:
    texts, labels = reviews(100, seed=4)
    fitted = lexicon.fit(texts, labels * 2, 3)  # classes 0 and 2; class 1 has no label
    logp = fitted.log_probs(["the cast is charming", "the cast is dull"])
    assert logp.shape == (2, 3)
    assert logp.argmax(axis=1).tolist() == [2, 0]
    assert (logp[:, 1] < -20).all()


def test_weights_move_the_model_toward_the_labels_it_trusts() -> None:
    texts = ["this is fine"] * 10
    labels = np.array([1] * 4 + [0] * 6, dtype=np.int64)
    trusted_ones = np.array([1.0] * 4 + [0.1] * 6)
    assert lexicon.fit(texts, labels, 2).log_probs(["this is fine"]).argmax() == 0
    assert lexicon.fit(texts, labels, 2, trusted_ones).log_probs(["this is fine"]).argmax() == 1


def test_texts_without_a_word_give_the_prior() -> None:
    fitted = lexicon.fit(["!", "?", "a", "b"], np.array([0, 0, 0, 1]), 2)
    probs = np.exp(fitted.log_probs(["anything at all"]))[0]
    np.testing.assert_allclose(probs, [4 / 6, 2 / 6], rtol=1e-5)  # add-one counts
    single = lexicon.fit(["only one class here"] * 3, np.array([1, 1, 1]), 2)
    assert single.log_probs(["one class"]).argmax() == 1
    assert lexicon.fit(["x"], np.array([0]), 2).log_probs([]).shape == (0, 2)


def test_save_and_load_give_the_same_predictions(tmp_path: Path) -> None:
    texts, labels = reviews(90, seed=5)
    fitted = lexicon.fit(texts, labels, 2)
    path = tmp_path / "job" / "v1.lexicon.npz"
    lexicon.save(path, fitted)
    loaded = lexicon.load(path)
    assert loaded.vocabulary == fitted.vocabulary
    unseen, _ = reviews(20, seed=6)
    np.testing.assert_allclose(loaded.log_probs(unseen), fitted.log_probs(unseen), atol=1e-4)
    assert [p.name for p in path.parent.iterdir()] == ["v1.lexicon.npz"]  # no temporary file left


def test_out_of_fold_rows_never_see_their_own_label() -> None:
    texts, labels = reviews(60, seed=7)
    fold = np.arange(60) % 3
    before = lexicon.out_of_fold(texts, labels, 2, fold)
    flipped = labels.copy()
    flipped[fold == 1] = 1 - flipped[fold == 1]  # every label of fold 1 changes
    after = lexicon.out_of_fold(texts, flipped, 2, fold)
    np.testing.assert_allclose(after[fold == 1], before[fold == 1], atol=1e-6)
    assert not np.allclose(after[fold == 0], before[fold == 0])  # fold 0's model trained on fold 1


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(ValueError, match="same length"):
        lexicon.fit(["a b"], np.array([0, 1]), 2)

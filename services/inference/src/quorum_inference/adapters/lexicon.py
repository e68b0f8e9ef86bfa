"""A bag-of-words expert for text: TF-IDF of words and word pairs with a logistic regression, trained on the
same human labels as the head. Its log-probabilities are added to the head's logits (a product of experts)
before the temperature is fitted, so one calibrated model comes out.

Why: a sentence embedding blurs the single words that decide a label ("not", "dull", "how many"), which a
linear model of the words keeps; the two err on different objects. Measured one shot with frozen MiniLM and
5 %-noisy labels (bench/text_finetune.py, docs/benchmarks.md): the share machine-labeled at 95 % precision
goes from 35 % to 51 % on sst2 (4,000 labels), 44 % to 70 % on trec6 (1,000) and 8 % to 23 % on rt-polarity
(4,000), for about a second of training.

Saved as a `.npz` of plain arrays (no pickle): the vocabulary, its IDF weights and the linear model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

NGRAMS = (1, 2)
MAX_TERMS = 50_000  # bounds a version's file (~1 MB) however many labels a job has
C = 10.0  # inverse L2 strength: TF-IDF rows are unit-norm and sparse, so sklearn's C = 1 underfits


@dataclass(frozen=True)
class Lexicon:
    vocabulary: list[str]  # term of each column
    idf: NDArray[np.float64]  # (V,)
    coef: NDArray[np.float64]  # (K, V)
    intercept: NDArray[np.float64]  # (K,)

    @property
    def n_classes(self) -> int:
        return int(self.coef.shape[0])

    @cached_property
    def _counter(self) -> CountVectorizer:
        """Term counts over this vocabulary (built once: Predict calls `features` on every request)."""
        return CountVectorizer(ngram_range=NGRAMS, vocabulary={t: i for i, t in enumerate(self.vocabulary)})

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """TF-IDF rows as sklearn's TfidfVectorizer(sublinear_tf=True) gives them for this vocabulary."""
        x = self._counter.transform(texts).astype(np.float64).tocsr()
        x.data = 1.0 + np.log(x.data)
        x = x.multiply(self.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x

    def log_probs(self, texts: list[str]) -> NDArray[np.float32]:
        """(n, K) log-probabilities; a text with no known term gets the prior (the intercepts)."""
        if not texts:
            return np.zeros((0, self.n_classes), dtype=np.float32)
        z = np.repeat(self.intercept[None, :], len(texts), axis=0)
        if self.vocabulary:  # else an expert that knows no word: the prior
            z = z + np.asarray(self.features(texts) @ self.coef.T)
        z -= z.max(axis=1, keepdims=True)
        return (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(np.float32)


def fit(
    texts: list[str], labels: NDArray[np.int64], n_classes: int, weights: NDArray[np.floating] | None = None
) -> Lexicon:
    """A lexicon from labelled texts (`weights`: each label's weight, e.g. its consolidated confidence).
    Classes absent from `labels` get a very low log-probability."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels must have the same length")
    vectorizer = TfidfVectorizer(ngram_range=NGRAMS, sublinear_tf=True, max_features=MAX_TERMS)
    try:
        x = vectorizer.fit_transform(texts)
    except ValueError:  # no text has a word of two letters or more: an expert that knows nothing
        return _prior(labels, n_classes)
    present = np.unique(labels)
    if len(present) < 2:
        return _prior(labels, n_classes, vocabulary=list(vectorizer.get_feature_names_out()))
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(x, labels, sample_weight=None if weights is None else np.asarray(weights, dtype=np.float64))
    v = x.shape[1]
    coef = np.zeros((n_classes, v))
    intercept = np.full(n_classes, -30.0)  # a class no label has: never the lexicon's pick
    if len(model.classes_) == 2:  # sklearn's binary model has one row: split it symmetrically
        rows, signs = model.classes_, (-0.5, 0.5)
        for c, s in zip(rows, signs, strict=True):
            coef[c] = s * model.coef_[0]
            intercept[c] = s * model.intercept_[0]
    else:
        coef[model.classes_] = model.coef_
        intercept[model.classes_] = model.intercept_
    vocabulary = [str(t) for t in vectorizer.get_feature_names_out()]
    return Lexicon(vocabulary, np.asarray(vectorizer.idf_, dtype=np.float64), coef, intercept)


def _prior(labels: NDArray[np.int64], n_classes: int, vocabulary: list[str] | None = None) -> Lexicon:
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64) + 1.0
    terms = vocabulary or []
    return Lexicon(
        terms, np.ones(len(terms)), np.zeros((n_classes, len(terms))), np.log(counts / counts.sum())
    )


def out_of_fold(
    texts: list[str],
    labels: NDArray[np.int64],
    n_classes: int,
    fold: NDArray[np.int64],
    weights: NDArray[np.floating] | None = None,
) -> NDArray[np.float32]:
    """Each row's log-probabilities from a lexicon fitted without its fold (cross-fitting as in
    nets.cross_fit)."""
    out = np.zeros((len(texts), n_classes), dtype=np.float32)
    for f in np.unique(fold):
        held = fold == f
        train = np.flatnonzero(~held)
        lexicon = fit(
            [texts[i] for i in train], labels[train], n_classes, None if weights is None else weights[train]
        )
        out[held] = lexicon.log_probs([texts[i] for i in np.flatnonzero(held)])
    return out


def save(path: Path, lexicon: Lexicon) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        vocabulary=np.array(lexicon.vocabulary, dtype=np.str_),
        idf=lexicon.idf.astype(np.float32),
        coef=lexicon.coef.astype(np.float32),
        intercept=lexicon.intercept.astype(np.float32),
    )
    tmp.replace(path)  # a crash never leaves a half-written file behind


def load(path: Path) -> Lexicon:
    with np.load(path, allow_pickle=False) as data:
        return Lexicon(
            [str(t) for t in data["vocabulary"].tolist()],
            data["idf"].astype(np.float64),
            data["coef"].astype(np.float64),
            data["intercept"].astype(np.float64),
        )

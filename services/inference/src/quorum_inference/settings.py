from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field

from quorum_common.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    backend: Literal["torch", "triton"] = Field(
        "torch",
        validation_alias=AliasChoices("INFERENCE_BACKEND", "BACKEND", "backend"),
        description="Where trained networks run: in-process torch, or a Triton Inference Server.",
    )
    triton_url: str = Field(
        "grpc://127.0.0.1:8001", description="An operator's Triton (used when triton_embedded is false)."
    )
    triton_embedded: bool = Field(
        True, description="Start the Triton server bundled in nvidia-pytriton (127.0.0.1, free ports)."
    )
    models_dir: Path = Field(Path(".quorum/models"), description="Where model-version weights are stored.")
    device: str = Field("auto", description="torch device: auto (cuda when present, else cpu), cpu, cuda.")
    seed: int = Field(0, description="Seed of splits, initialisation and training order.")
    head_hidden: int = Field(256, ge=0, description="Hidden units of the text head; 0 = logistic regression.")
    head_epochs: int = Field(60, ge=1, le=10_000)
    cnn_epochs: int = Field(30, ge=1, le=10_000)
    image_size: int = Field(
        24,
        ge=16,
        le=512,
        description="Largest side images are resized to (square). A job whose images are smaller goes in at "
        "their median side rounded up to a multiple of 8, at least 16 (8 x 8 digits: 16 x 16). Measured on "
        "the shared digit sets, 16-24 is as accurate as 32 for a CNN trained from a few hundred labels and "
        "2-3x faster (docs/benchmarks.md).",
    )
    validation_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of the human labels held out when a request marks none."
    )
    confidence_level: float = Field(
        0.95, gt=0.5, lt=1, description="Confidence of the lower bound that thresholds must clear."
    )
    look_spending_base_draws: int = Field(
        100,
        ge=0,
        description="A job's certification is tried at looks (looks_per_doubling times per doubling of its "
        "draws, or every iteration); its confidence_level is split over those looks by how often the job's "
        "certification draws have doubled since this many, and shared by the looks of one doubling "
        "(core/thresholds.py: look_confidence_level; at 0.95 with one look per doubling: 0.95 below 2x, "
        "0.975 below 4x, 0.983 below 8x). 0 = the same confidence_level at every iteration.",
    )
    looks_per_doubling: int = Field(
        2,
        ge=0,
        le=4,
        description="How many times a job's certification is tried each time its certification draws double "
        "(from look_spending_base_draws; 2: at every factor sqrt(2), each at half the doubling's error "
        "rate), not at every iteration: a new model at every iteration gives the same draws a fresh chance "
        "to look good (core/thresholds.py: look_epoch). Iterations between looks machine-label nothing. 0 = "
        "every iteration (the older rule). Needs look_spending_base_draws > 0. Images and frozen text, whose "
        "trainings take seconds; fine-tuned text has finetune_looks_per_doubling. With 2, sklearn-digits "
        "machine-labeled 85.8 %, 73.2 % and 81.3 % in three runs (nine runs with 1: 54-89 %, mean 73 %) "
        "(docs/benchmarks.md, thirteenth and sixteenth sessions).",
    )
    finetune_looks_per_doubling: int = Field(
        1,
        ge=0,
        le=4,
        description="looks_per_doubling for TEXT_MODEL=finetune, whose looks may fine-tune MiniLM (minutes "
        "on a CPU): with 2, rt-polarity's run took 26 min instead of 19 and certified nothing either way, "
        "and trec6 certified at the same look (docs/benchmarks.md, sixteenth session).",
    )
    cross_fit_between_looks: bool = Field(
        False,
        description="cross_fit with looks (looks_per_doubling > 0): cross-fit at every training, not only "
        "at the job's looks. Only a look may certify, so between looks the kept network alone trains by "
        "default (an image training ~5x faster with 4 folds; the version then reports no held-out figures: "
        "n_validation 0). True: every version reports its held-out accuracy and best bound.",
    )
    earlier_at_bound: bool = Field(
        True,
        description="Pooled certification: a job's earlier machine labels count at their certified lower "
        "bound (true) or at the verdicts of the draws that certified them (false, the older rule; those "
        "draws selected their set, so a later set could spend their luck: core/thresholds.py).",
    )
    threshold_mode: Literal["per_class", "pooled"] = Field(
        "pooled",
        description="TrainModel's default threshold_mode: per_class (each class meets the target) or "
        "pooled (all machine labels together do; needs far fewer validation labels with many classes).",
    )
    calibration: Literal["cross_fit", "holdout"] = Field(
        "cross_fit",
        description="cross_fit: every human label trains the model and is held out once (out-of-fold "
        "predictions of `folds` models) to fit the temperature and certify thresholds; the validation flag "
        "is then ignored. holdout: the objects marked validation (else a random validation_fraction) are "
        "held out and never trained on.",
    )
    random_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="cross_fit: share of Predict's select_count drawn at random from the objects it may not "
        "auto-label (the rest: most informative); thresholds are certified on these and on a job's first "
        "training batch, the objects that are samples of the unlabelled pool.",
    )
    random_share_uncertified: float = Field(
        1.0,
        ge=0,
        le=1,
        description="cross_fit: random_share (and finetune_random_share) while no version of the job has "
        "certified a threshold: nothing is machine-labeled before a bound clears the target, and only random "
        "draws feed the bound, so until then every pick is a draw.",
    )
    folds: int = Field(4, ge=2, le=20, description="Cross-fitting folds (cross_fit calibration).")
    label_noise: float = Field(
        -1.0,
        ge=-1.0,
        lt=0.5,
        description="Error rate of the human labels that accuracy bounds allow for (consolidated crowd "
        "labels are not gold): -1 = estimate it per model from the held-out labels (capped at 5%), 0 = "
        "treat human labels as the truth.",
    )
    text_model: Literal["frozen", "finetune"] = Field(
        "finetune",
        validation_alias=AliasChoices("TEXT_MODEL", "text_model"),
        description="Text: frozen MiniLM embeddings + a head, or MiniLM fine-tuned on the job's human "
        "labels (cross_fit calibration only) + a head on its embeddings. Fine-tuning holds out the random "
        "draws whose object id hashes into certify_share: they fit the temperature and certify thresholds "
        "and never train the encoder.",
    )
    text_lexicon: bool = Field(
        False,
        description="Text: add a bag-of-words expert (TF-IDF of words and word pairs, logistic regression on "
        "the same labels; adapters/lexicon.py) to the head's logits before calibration. It keeps the single "
        "words a sentence embedding blurs (trec6 through the platform: 71 % machine-labeled instead of "
        "55-69 %), but off by default: with it, both sst2 runs of the eleventh session machine-labeled "
        "below the 95 % target (before looks_per_doubling; with one, one sst2 run met the target at 8.9 % "
        "machine-labeled), and one trec6 run saved less with it (35 %) than without (52 %) "
        "(docs/benchmarks.md, twelfth session).",
    )
    certify_share: float = Field(
        0.5, gt=0, lt=1, description="finetune: share of the random draws kept for certification."
    )
    finetune_random_share: float = Field(
        0.75,
        ge=0,
        le=1,
        description="finetune: random_share of Predict's select_count for a fine-tuned version (the "
        "certification set, random draws in certify_share, binds; the encoder learns from random draws too).",
    )
    finetune_min_labels: int = Field(
        60, ge=1, description="finetune: training labels (outside certification) before a first fine-tuning."
    )
    finetune_growth: float = Field(
        1.5,
        ge=1.0,
        description="finetune: fine-tune again (warm-started from the job's previous encoder) at the job's "
        "next look at certification (looks_per_doubling) once the training labels have grown by this factor "
        "since the last fine-tuning; in between only the head is retrained.",
    )
    finetune_epochs: int = Field(3, ge=1, le=100, description="finetune: epochs from the pretrained encoder.")
    finetune_max_steps: int = Field(400, ge=1, description="finetune: most optimiser steps per fine-tuning.")
    finetune_max_seconds: float = Field(
        150.0,
        ge=0,
        description="finetune: wall-clock cap of one fine-tuning's optimiser loop, in seconds (0 = none); it "
        "stops early (logged, steps recorded in the version's metrics) when a shared CPU is slow.",
    )
    finetune_lr: float = Field(4e-5, gt=0, lt=1, description="finetune: AdamW learning rate of the encoder.")
    soft_labels: bool = Field(
        True,
        description="Train against each human label's consolidated confidence q (q on the label, 1 - q "
        "spread over the other classes) instead of the bare label, when the caller sends it.",
    )
    cnn_min_steps: int = Field(
        600, ge=0, description="Least optimiser steps of a CNN training, however few the images."
    )
    max_objects: int = Field(200_000, ge=1, description="Largest TrainModel / Predict request, in objects.")

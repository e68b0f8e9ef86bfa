"""Train / predict / metrics for one job's model versions: features, torch training, a scoring backend,
weights on disk and versions in PostgreSQL. CPU-heavy steps run in a worker thread."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quorum_common.logging import get_logger
from quorum_inference.adapters import finetune, lexicon, nets
from quorum_inference.adapters.features import FeatureError, ImageLoader, TextEmbedder
from quorum_inference.adapters.store import ModelStore
from quorum_inference.core.backend import ModelKey, ScoringBackend
from quorum_inference.core.calibration import apply_temperature
from quorum_inference.core.metrics import ModelMetrics, between_looks, evaluate
from quorum_inference.core.selection import select_informative
from quorum_inference.core.thresholds import (
    MAX_OBJECT_NOISE,
    EarlierCertified,
    auto_label_mask,
    earlier_certified,
    look_at,
    look_confidence_level,
    next_look_draws,
    object_noise_from_confidence,
)
from quorum_inference.core.types import InferenceObject, ModelVersion, Predictions, modality_of
from quorum_inference.errors import FailedPrecondition, InvalidArgument, NotFound
from quorum_inference.settings import InferenceSettings

log = get_logger(__name__)

DEFAULT_TARGET_ACCURACY = 0.95
MAX_LABEL_NOISE = 0.5


@dataclass(frozen=True)
class ScoredPredictions(Predictions):
    """`Predictions` with, among `selected`, the indices drawn uniformly at random from the pool (they come
    last in `selected`): they certify later versions' thresholds."""

    random: list[int] = field(default_factory=list)


class InferenceEngine:
    def __init__(
        self,
        settings: InferenceSettings,
        store: ModelStore,
        backend: ScoringBackend,
        *,
        embedder: TextEmbedder | None = None,
        images: ImageLoader | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self.backend = backend
        self.device = nets.pick_device(settings.device)
        self._embedder = embedder or TextEmbedder(str(self.device))
        self._tuned = finetune.TunedEmbedders(settings.models_dir, self.device)
        self._images = images or ImageLoader(settings.image_size)
        self._models: OrderedDict[str, Any] = OrderedDict()  # model_id -> torch module (LRU)
        self._lexicons: OrderedDict[str, lexicon.Lexicon] = OrderedDict()  # path -> lexicon (LRU)
        self._train_lock = asyncio.Lock()  # one training at a time: it uses every core

    # ----- inputs -------------------------------------------------------------------------------------
    def _check_objects(self, objects: list[InferenceObject]) -> str:
        if not objects:
            raise InvalidArgument("objects is empty; send at least one object", reason="no_objects")
        if len(objects) > self._settings.max_objects:
            raise InvalidArgument(
                f"{len(objects)} objects; at most {self._settings.max_objects} per request",
                reason="too_many_objects",
            )
        try:
            return modality_of(objects)
        except ValueError as err:
            raise InvalidArgument(str(err), reason="object_content_invalid") from err

    def _features(
        self, modality: str, objects: list[InferenceObject], encoder: str = "", image_side: int = 0
    ) -> NDArray[np.float32]:
        """Model inputs: text through frozen MiniLM, or through the fine-tuned encoder `encoder` (a path under
        models_dir) of a version; images as tensors of `image_side` (0: the setting)."""
        if modality == "text" and encoder:
            try:
                return self._tuned.embed(encoder, [o.text for o in objects])
            except FileNotFoundError as err:
                raise FailedPrecondition(str(err), reason="encoder_gone") from err
        if modality == "text":
            return self._embedder.embed([o.text for o in objects])
        try:
            return self._images.load([o.image_uri for o in objects], image_side or None)
        except FeatureError as err:
            raise InvalidArgument(str(err), reason="image_unreadable") from err

    def _image_side(self, objects: list[InferenceObject]) -> int:
        """The side a job's images go in at (nets.input_side), from a sample of their sizes."""
        sample = objects[:: max(1, len(objects) // 200)]  # headers only, but a job may have thousands
        try:
            native = self._images.native_side([o.image_uri for o in sample])
        except FeatureError as err:
            raise InvalidArgument(str(err), reason="image_unreadable") from err
        return nets.input_side(native, self._settings.image_size)

    def _arch(self, modality: str, n_classes: int, image_side: int = 0) -> nets.Arch:
        if modality == "text":
            from quorum_inference.adapters.features import EMBEDDING_DIM  # noqa: PLC0415

            return nets.Arch("head", (EMBEDDING_DIM,), n_classes, self._settings.head_hidden)
        side = image_side or self._settings.image_size
        return nets.Arch("cnn_wide", (3, side, side), n_classes, 0)

    # ----- train --------------------------------------------------------------------------------------
    async def train(
        self,
        job_id: str,
        objects: list[InferenceObject],
        categories: list[str],
        *,
        target_accuracy: float = 0.0,
        warm_start_model_id: str = "",
        threshold_mode: str = "",
        label_noise: float = 0.0,
        machine_labeled_versions: Sequence[int] = (),
    ) -> ModelVersion:
        """`machine_labeled_versions`: the job's earlier versions whose machine labels were committed; only
        their certified sets pool with this version's bound (`_earlier`)."""
        if not job_id:
            raise InvalidArgument("job_id is empty", reason="missing_job_id")
        for i, v in enumerate(machine_labeled_versions):
            if v < 1:
                raise InvalidArgument(
                    f"machine_labeled_versions[{i}] is {v}; versions start at 1",
                    reason="machine_labeled_versions_invalid",
                )
        applied = frozenset(int(v) for v in machine_labeled_versions)
        if len(categories) < 2 or len(set(categories)) != len(categories) or not all(categories):
            raise InvalidArgument(
                "categories must be at least 2 distinct non-empty names", reason="categories_invalid"
            )
        target = target_accuracy or DEFAULT_TARGET_ACCURACY
        if not 0.0 < target < 1.0:
            raise InvalidArgument(
                f"target_accuracy {target_accuracy} is outside (0, 1) (0 = default 0.95)",
                reason="target_accuracy_out_of_range",
            )
        mode = threshold_mode or self._settings.threshold_mode
        if mode not in ("per_class", "pooled"):
            raise InvalidArgument(
                f"threshold_mode {threshold_mode!r}; allowed: per_class, pooled (empty = service default)",
                reason="threshold_mode_invalid",
            )
        modality = self._check_objects(objects)
        index = {c: i for i, c in enumerate(categories)}
        for i, o in enumerate(objects):
            if o.label not in index:
                raise InvalidArgument(
                    f"objects[{i}].label {o.label!r} is not one of the categories {categories}",
                    reason="label_not_in_categories",
                )
        labels = np.array([index[o.label] for o in objects], dtype=np.int64)
        for i, o in enumerate(objects):
            if not 0.0 <= o.label_confidence <= 1.0:
                raise InvalidArgument(
                    f"objects[{i}].label_confidence {o.label_confidence} is outside [0, 1] (0 = unknown)",
                    reason="label_confidence_out_of_range",
                )
        # Each human label's consolidated confidence (0 = unknown): the bounds allow for the error rate of the
        # labels each threshold is certified on, not the job's average (core/thresholds.py).
        quality = np.array([o.label_confidence for o in objects], dtype=np.float64)
        is_val = self._split(objects)
        if is_val.all() and self._settings.calibration == "holdout":
            raise InvalidArgument(
                "every object is marked validation; at least one must be for training",
                reason="no_training_objects",
            )

        init_state = None
        if warm_start_model_id:
            earlier = await self._store.get_by_id(warm_start_model_id)
            if earlier is None:
                raise NotFound(
                    f"no model version {warm_start_model_id!r} to warm-start from", reason="model_not_found"
                )
            if earlier.modality != modality:
                raise FailedPrecondition(
                    f"model {warm_start_model_id} is a {earlier.modality} model; the objects are {modality}",
                    reason="warm_start_incompatible",
                )
            init_state = (earlier, nets.Arch.from_json(earlier.arch))

        side = 0
        if modality == "image":
            # A warm start keeps its earlier version's input side; otherwise the images' own decides.
            earlier_shape = tuple(init_state[1].input_shape) if init_state is not None else ()
            side = int(earlier_shape[1]) if len(earlier_shape) == 3 else self._image_side(objects)
        arch = self._arch(modality, len(categories), side)
        config = nets.TrainConfig(
            epochs=self._settings.head_epochs if modality == "text" else self._settings.cnn_epochs,
            seed=self._settings.seed,
            min_steps=0 if modality == "text" else self._settings.cnn_min_steps,
        )
        cross = self._settings.calibration == "cross_fit"
        if not 0.0 <= label_noise < MAX_LABEL_NOISE:
            raise InvalidArgument(
                f"label_noise {label_noise} is outside [0, {MAX_LABEL_NOISE}) (0 = the service's setting)",
                reason="label_noise_out_of_range",
            )
        # The caller's rate (from the consolidated labels' confidences) beats an estimate from held-out ones.
        noise = label_noise or (None if self._settings.label_noise < 0 else self._settings.label_noise)

        tuned = modality == "text" and cross and self._settings.text_model == "finetune"
        # Networks learn from each label's consolidated confidence (nets.soft_targets) when it is known.
        soft = quality if self._settings.soft_labels and (quality > 0).any() else None
        with_lexicon = modality == "text" and self._settings.text_lexicon
        texts = [o.text for o in objects]
        # The bag-of-words expert weighs each label by its confidence (unknown = 1).
        lexicon_weights = None if soft is None else np.where(quality > 0, quality, 1.0)

        def kept_lexicon(rows: NDArray[np.int64]) -> tuple[str, lexicon.Lexicon]:
            """This version's lexicon, fitted on `rows` and saved."""
            weights = None if lexicon_weights is None else lexicon_weights[rows]
            return self._fit_lexicon(job_id, version, [texts[i] for i in rows], labels[rows], arch, weights)

        def kept_arch() -> nets.Arch:
            """The kept network's arch: with the expert, this version's lexicon fitted on every label."""
            return replace(arch, lexicon=kept_lexicon(np.arange(len(labels)))[0]) if with_lexicon else arch

        def work() -> tuple[Any, Any, nets.Arch]:
            if tuned:
                done = self._train_finetuned(
                    job_id,
                    version,
                    objects,
                    labels,
                    arch,
                    config,
                    target,
                    mode,
                    noise,
                    quality,
                    soft,
                    kept_lexicon if with_lexicon else None,
                    applied,
                )
                if done is not None:
                    return done
            x = self._features(modality, objects, image_side=side)
            state = None
            if init_state is not None:
                earlier, earlier_arch = init_state
                if earlier_arch.kind != arch.kind or earlier_arch.input_shape != arch.input_shape:
                    raise FailedPrecondition(
                        f"model {earlier.model_id} takes {earlier_arch.input_shape}, not {arch.input_shape}",
                        reason="warm_start_incompatible",
                    )
                _, _, old_state = nets.load(self._settings.models_dir / earlier.weights_path, self.device)
                try:
                    state = nets.warm_start_state(arch, old_state, earlier.categories, categories)
                except ValueError as err:
                    raise FailedPrecondition(str(err), reason="warm_start_incompatible") from err
            if cross:
                # Every human label trains the kept model and is held out once. Thresholds are certified
                # only on objects still like the unlabelled pool: not on those an earlier version's
                # thresholds would have machine-labelled (their like left the pool), recorded per job.
                excluded = self._ids(job_id, "excluded") or set()
                drawn = self._drawn(job_id, objects)
                is_drawn = np.array([o.object_id in drawn for o in objects], dtype=bool)
                certify = is_drawn & np.array([o.object_id not in excluded for o in objects], dtype=bool)
                earlier = self._earlier(job_id, version, applied)
                level, is_look, to_next = self._look(
                    job_id,
                    int(is_drawn.sum()),
                    int(certify.sum()),
                    target,
                    earlier,
                    self._settings.looks_per_doubling,
                )
                if not is_look and not self._settings.cross_fit_between_looks:
                    # Only a look may certify, and the held-out folds exist to certify: between looks the
                    # kept network alone trains (a fifth of a cross-fitting with 4 folds), to pick the batch.
                    model = nets.train(
                        arch, x, labels, config, device=self.device, init_state=state, confidence=soft
                    )
                    metrics = between_looks(
                        len(objects),
                        len(categories),
                        target_accuracy=target,
                        confidence_level=level,
                        threshold_mode=mode,  # type: ignore[arg-type]  # checked above
                        temperature=previous_temperature,
                        draws_to_next_look=float(to_next),
                    )
                    return model, metrics, kept_arch()
                # A version of this same job was trained on these labels: its weights would leak them into
                # the held-out folds, so only the kept network starts from it.
                same_job = init_state is not None and init_state[0].job_id == job_id
                model, held_logits = nets.cross_fit(
                    arch,
                    x,
                    labels,
                    config,
                    device=self.device,
                    folds=self._settings.folds,
                    init_state=state,
                    fold_init_state=None if same_job else state,
                    confidence=soft,
                )
                if with_lexicon:  # the same folds as cross_fit's, so each row's two experts never saw it
                    fold = nets.cross_fit_folds(labels, self._settings.folds, config.seed)
                    held_logits = held_logits + lexicon.out_of_fold(
                        texts, labels, len(categories), fold, lexicon_weights
                    )
                arch_kept = kept_arch()
                metrics = evaluate(
                    held_logits,
                    labels,
                    len(categories),
                    n_train=len(objects),
                    target_accuracy=target,
                    confidence_level=level,
                    may_certify=is_look,
                    threshold_mode=mode,  # type: ignore[arg-type]  # checked above
                    label_noise=noise,
                    certify=certify,
                    label_confidence=quality,
                    earlier=earlier,
                    cap_share=True,  # the kept network scores the pool, the folds certified
                )
                metrics = replace(metrics, draws_to_next_look=float(to_next))  # every draw certifies
                self._exclude_machine_labeled(
                    job_id, version, excluded, objects, held_logits, labels, quality, certify, metrics
                )
                return model, metrics, arch_kept
            model = nets.train(
                arch,
                x[~is_val],
                labels[~is_val],
                config,
                device=self.device,
                init_state=state,
                confidence=None if soft is None else soft[~is_val],
            )
            val_logits = nets.logits(model, x[is_val])
            arch_kept = arch
            if with_lexicon:
                key, fitted = kept_lexicon(np.flatnonzero(~is_val))
                arch_kept = replace(arch, lexicon=key)
                val_texts = [t for t, v in zip(texts, is_val, strict=True) if v]
                val_logits = val_logits + fitted.log_probs(val_texts)
            # The validation objects are fixed, so draws never bring this mode's next look nearer: it reports
            # none (draws_to_next_look 0), and the jobs service's loop goes on as without looks.
            n_val, per = int(is_val.sum()), self._settings.looks_per_doubling
            level, is_look, _ = self._look(job_id, n_val, n_val, target, None, per)
            metrics = evaluate(
                val_logits,
                labels[is_val],
                len(categories),
                n_train=int((~is_val).sum()),
                target_accuracy=target,
                confidence_level=level,
                may_certify=is_look,
                threshold_mode=mode,  # type: ignore[arg-type]  # checked above
                label_noise=noise,
                label_confidence=quality[is_val],
            )
            return model, metrics, arch_kept

        async with self._train_lock:
            version = await self._store.next_version(job_id)  # work() needs it; the lock keeps it ours
            previous = await self._store.get(job_id, None)
            # A version trained between looks scores its pool at its predecessor's temperature (1: none).
            previous_temperature = previous.metrics.temperature if previous is not None else 1.0
            model, metrics, kept = await asyncio.to_thread(work)
            relative = f"{job_id}/v{version}.pt"
            await asyncio.to_thread(nets.save, self._settings.models_dir / relative, kept, model)
            recorded = await self._store.add(
                job_id=job_id,
                version=version,
                modality=modality,
                categories=categories,
                arch=kept.to_json(),
                metrics=metrics,
                weights_path=relative,
                warm_start_model_id=warm_start_model_id or None,
            )
        self._remember(recorded.model_id, model)
        log.info(
            "model_trained",
            job_id=job_id,
            version=version,
            n_train=metrics.n_train,
            n_validation=metrics.n_validation,
            validation_accuracy=round(metrics.validation_accuracy, 4),
            temperature=round(metrics.temperature, 3),
            n_certified=metrics.n_certified,
            n_certified_earlier=metrics.n_certified_earlier,
            best_lower_bound=round(metrics.best_lower_bound, 4),
            best_lower_bound_support=metrics.best_lower_bound_support,
            label_noise=round(metrics.label_noise, 4),
            certified=any(t.threshold is not None for t in metrics.thresholds),
            look=metrics.certification_look,
            backend=self.backend.name,
        )
        return recorded

    def _look(
        self,
        job_id: str,
        n_draws: int,
        n_certify: int,
        target: float,
        earlier: EarlierCertified | None,
        per: int,
    ) -> tuple[float, bool, int]:
        """This training's confidence level on the job's `n_draws` certification draws so far (machine-labeled
        or not: the level must not relax when a certified set leaves the pool), and whether it may certify.
        With looks_per_doubling L > 0, only the first training in each of the job's look epochs (L per
        doubling of the draws: thresholds.look_epoch) is a look, recorded in `<job>/looks.json`; a training
        whose `n_certify` draws could not clear the target even all agreeing (and no earlier machine labels to
        pool with) cannot certify anyway, so it does not spend the epoch's look. Third: the certification
        draws the job still needs before a later training may look (0: the next one may)."""
        s = self._settings
        base = s.look_spending_base_draws
        level = look_confidence_level(s.confidence_level, n_draws, base, per)
        if per <= 0 or base <= 0:
            return level, True, 0
        looked = self._read_json(job_id, "looks") or {}
        last = None
        if "epoch" in looked:  # in this setting's epochs (a restart may have changed it mid-job)
            last = int(np.floor(int(looked["epoch"]) * per / int(looked.get("per_doubling", 1))))
        epoch = look_at(
            n_draws,
            n_certify,
            base,
            last,
            target_accuracy=target,
            confidence_level=level,
            pooled_with_earlier=earlier is not None,
            looks_per_doubling=per,
        )
        if epoch is not None:
            self._write_json(job_id, "looks", {"epoch": epoch, "per_doubling": per})
        to_next = max(0, next_look_draws(last if epoch is None else epoch, base, per) - n_draws)
        return level, epoch is not None, to_next

    def _drawn(self, job_id: str, objects: list[InferenceObject]) -> set[str]:
        """The job's random draws of the pool; at its first training, its objects (the random first batch)."""
        drawn = self._ids(job_id, "drawn")
        if drawn is None:
            drawn = {o.object_id for o in objects}
            self._save_ids(job_id, "drawn", drawn)
        return drawn

    def _train_finetuned(
        self,
        job_id: str,
        version: int,
        objects: list[InferenceObject],
        labels: NDArray[np.int64],
        arch: nets.Arch,
        config: nets.TrainConfig,
        target: float,
        mode: str,
        noise: float | None,
        quality: NDArray[np.float64],
        soft: NDArray[np.float64] | None,
        fit_lexicon: Callable[[NDArray[np.int64]], tuple[str, lexicon.Lexicon]] | None,
        applied: frozenset[int],
    ) -> tuple[Any, Any, nets.Arch] | None:
        """TEXT_MODEL=finetune (runs in the worker thread). The certification set C: the random draws whose
        object id hashes into certify_share (a fixed split, so it never moves between iterations). The encoder
        is fine-tuned on the other human labels only, warm-started from the job's previous encoder at a look
        (`_look`) once they have grown by finetune_growth, else reused; a head is trained on its embeddings
        of the same labels; C's logits fit the temperature (and the label-noise estimate) and certify the
        threshold, on the C objects no earlier version would have machine-labelled. Neither the encoder nor
        the head ever saw C, so the bound is an honest held-out one. `soft`: the confidences the head trains
        against (None: bare labels). `fit_lexicon`: fits and saves the version's bag-of-words expert on the
        given rows (None: no expert). `applied`: the versions whose machine labels were committed
        (`_earlier`). None (too few training labels yet): the frozen path runs."""
        s = self._settings
        drawn = self._drawn(job_id, objects)
        excluded = self._ids(job_id, "excluded") or set()
        share = s.certify_share
        is_c = np.array(
            [o.object_id in drawn and finetune.in_certification_set(o.object_id, share) for o in objects],
            dtype=bool,
        )
        train_rows = np.flatnonzero(~is_c)
        if len(train_rows) < s.finetune_min_labels:
            return None
        c_rows = np.flatnonzero(is_c)
        certify = np.array([objects[i].object_id not in excluded for i in c_rows], dtype=bool)
        earlier = self._earlier(job_id, version, applied)
        level, is_look, to_next = self._look(
            job_id, len(c_rows), int(certify.sum()), target, earlier, s.finetune_looks_per_doubling
        )
        state = self._encoder_state(job_id) or {}
        key = str(state.get("path", ""))
        stats: dict[str, float] = {}
        # A fine-tuning costs up to minutes of CPU and only a look can machine-label: between looks the head
        # is retrained on the job's latest encoder (for picking the next batch).
        grown = len(train_rows) >= s.finetune_growth * int(state.get("n_train", 0))
        if not key or (grown and is_look):
            texts = [objects[i].text for i in train_rows]
            key, stats = self._fine_tune(job_id, key, texts, labels[train_rows], arch)
            self._save_encoder_state(job_id, {"path": key, "n_train": int(len(train_rows))})
        x = self._tuned.embed(key, [o.text for o in objects])
        head = nets.train(
            arch,
            x[train_rows],
            labels[train_rows],
            config,
            device=self.device,
            confidence=None if soft is None else soft[train_rows],
        )
        held_logits = nets.logits(head, x[c_rows])
        lexicon_key = ""
        if fit_lexicon is not None:  # fitted on the head's labels only: C stays held out from both experts
            lexicon_key, fitted = fit_lexicon(train_rows)
            held_logits = held_logits + fitted.log_probs([objects[i].text for i in c_rows])
        metrics = evaluate(
            held_logits,
            labels[c_rows],
            arch.n_classes,
            n_train=int(len(train_rows)),
            target_accuracy=target,
            confidence_level=level,
            may_certify=is_look,
            threshold_mode=mode,  # type: ignore[arg-type]  # checked by the caller
            label_noise=noise,
            certify=certify,
            label_confidence=quality[c_rows],
            earlier=earlier,
        )
        metrics = replace(
            metrics,
            finetune_steps=int(stats.get("steps", 0)),
            finetune_capped=bool(stats.get("capped", 0.0)),
            # Only the draws whose id hashes into C certify: about certify_share of the pool's draws.
            draws_to_next_look=to_next / share,
        )
        if len(c_rows):
            held = [objects[i] for i in c_rows]
            c_labels, c_quality = labels[c_rows], quality[c_rows]
            self._exclude_machine_labeled(
                job_id, version, excluded, held, held_logits, c_labels, c_quality, certify, metrics
            )
        return head, metrics, replace(arch, encoder=key, lexicon=lexicon_key)

    def _exclude_machine_labeled(
        self,
        job_id: str,
        version: int,
        excluded: set[str],
        held: list[InferenceObject],
        held_logits: NDArray[np.float32],
        labels: NDArray[np.int64],
        quality: NDArray[np.float64],
        certified_on: NDArray[np.bool_],
        metrics: ModelMetrics,
    ) -> None:
        """Record the held-out objects this version's thresholds would machine-label: their like leaves the
        pool, so later versions do not certify on them. Those of them this version certified on (random draws
        still like the pool) stand for its machine-labeled set in later bounds: kept with its verdict on
        them, their labels' error rates and the version (`_earlier`)."""
        probs = apply_temperature(held_logits, metrics.temperature)
        predicted = probs.argmax(axis=1)
        now = auto_label_mask(predicted, probs.max(axis=1), metrics.thresholds)
        now_ids = {o.object_id for o, a in zip(held, now, strict=True) if a}
        self._save_ids(job_id, "excluded", excluded | now_ids)
        rows = np.flatnonzero(now & certified_on)
        if not len(rows):
            return
        noise = object_noise_from_confidence(quality[rows], metrics.label_noise)
        if noise is None:
            noise = np.full(len(rows), min(metrics.label_noise, MAX_OBJECT_NOISE))
        record = self._read_json(job_id, "certified") or {}
        for i, eps in zip(rows.tolist(), noise.tolist(), strict=True):
            record.setdefault(held[i].object_id, [int(predicted[i] == labels[i]), float(eps), version])
        self._write_json(job_id, "certified", record)
        # The bound every machine label up to this version was certified at: later bounds count them at it.
        bounds = self._read_json(job_id, "bounds") or {}
        bounds[str(version)] = max(t.lower_bound for t in metrics.thresholds if t.threshold is not None)
        self._write_json(job_id, "bounds", bounds)

    def _earlier(self, job_id: str, version: int, applied: frozenset[int]) -> EarlierCertified | None:
        """The draws inside earlier versions' machine-labeled sets, weighted for version `version`'s bound
        (core/thresholds.py: earlier_certified). Only the `applied` versions count: a training records its
        set when it certifies, but its iteration may never commit (a failure before the commit, then a retry
        that trains again), and a set that was never machine-labeled must not vouch for a weaker one."""
        record = self._read_json(job_id, "certified")
        rates = self._read_json(job_id, "sampling")
        if not record or not rates:
            return None
        bounds = self._read_json(job_id, "bounds") if self._settings.earlier_at_bound else None
        return earlier_certified(
            [(int(a), float(e), int(v)) for a, e, v in record.values() if int(v) in applied],
            {int(v): float(r) for v, r in rates.items()},
            version,
            {int(v): float(b) for v, b in (bounds or {}).items() if int(v) in applied},
        )

    def _record_sampling(
        self, job_id: str, version: int, n_random: int, pool_left: float, pool_total: int, n_labeled: int
    ) -> None:
        """Record version `version`'s random draws' sampling rate (n_random of the `pool_left` objects it may
        not machine-label), and at the job's first call the first batch's (its draws among the objects then:
        the pool plus the labeled ones)."""
        rates = self._read_json(job_id, "sampling") or {}
        if "0" not in rates:
            first = len(self._ids(job_id, "drawn") or set())
            rates["0"] = first / max(1, pool_total + n_labeled)
        rates[str(version)] = n_random / max(float(n_random), pool_left)
        self._write_json(job_id, "sampling", rates)

    def _fine_tune(
        self, job_id: str, previous: str, texts: list[str], labels: NDArray[np.int64], arch: nets.Arch
    ) -> tuple[str, dict[str, float]]:
        """A new encoder for the job (warm-started from `previous` when there is one), saved as the job's only
        encoder file; returns its key (path under models_dir) and the fine-tuning's stats (steps, capped)."""
        s = self._settings
        config = finetune.FinetuneConfig(
            epochs=s.finetune_epochs,
            max_steps=s.finetune_max_steps,
            max_seconds=s.finetune_max_seconds,
            lr=s.finetune_lr,
            seed=s.seed,
        )
        warm = False
        model = None
        if previous:
            try:
                model = finetune.load_encoder(s.models_dir / previous, self.device, config.max_seq_length)
                warm = True
            except FileNotFoundError:
                model = None
        if model is None:
            model = finetune.base_encoder(self.device, config.max_seq_length)
        stats = finetune.fine_tune(model, texts, labels, arch.n_classes, config, warm=warm)
        folder = s.models_dir / job_id
        n = 1 + max((int(p.stem.split("-")[1]) for p in folder.glob("encoder-*.pt")), default=0)
        key = f"{job_id}/encoder-{n}.pt"
        finetune.save_encoder(s.models_dir / key, model)
        for old in folder.glob("encoder-*.pt"):  # only the latest encoder is kept (~90 MB each)
            if old.name != f"encoder-{n}.pt":
                old.unlink(missing_ok=True)
        self._tuned.add(key, model)
        if stats.get("capped"):
            log.warning(
                "encoder_fine_tuning_time_capped",
                job_id=job_id,
                steps=int(stats["steps"]),
                planned_steps=int(stats["planned_steps"]),
                max_seconds=s.finetune_max_seconds,
            )
        log.info("encoder_fine_tuned", job_id=job_id, key=key, n_train=len(texts), warm=warm, **stats)
        return key, stats

    def _encoder_state(self, job_id: str) -> dict[str, Any] | None:
        state = self._read_json(job_id, "encoder")
        return None if state is None else dict(state)

    def _save_encoder_state(self, job_id: str, state: dict[str, Any]) -> None:
        self._write_json(job_id, "encoder", state)

    def _split(self, objects: list[InferenceObject]) -> NDArray[np.bool_]:
        """The objects the request marks as validation, else a seeded random share of them."""
        marked = np.array([o.validation for o in objects], dtype=bool)
        if marked.any() or len(objects) < 2:
            return marked
        n_val = max(1, int(round(self._settings.validation_fraction * len(objects))))
        order = np.random.default_rng(self._settings.seed).permutation(len(objects))
        marked[order[:n_val]] = True
        return marked

    # cross_fit bookkeeping per job, next to its weights: "drawn" = object ids that are random samples of the
    # unlabelled pool of their time (first batch, Predict's random picks); "excluded" = object ids whose
    # held-out prediction a version's thresholds would have machine-labelled (their like left the pool).
    def _read_json(self, job_id: str, name: str) -> Any:
        """The job's `<models_dir>/<job>/<name>.json`, None when it was never written."""
        try:
            return json.loads((self._settings.models_dir / job_id / f"{name}.json").read_text())
        except FileNotFoundError:
            return None

    def _write_json(self, job_id: str, name: str, value: Any) -> None:
        """Replace the job's `<name>.json` atomically (write a temporary file, then rename)."""
        path = self._settings.models_dir / job_id / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)

    def _ids(self, job_id: str, kind: str) -> set[str] | None:
        """The recorded ids, None when none were ever recorded."""
        ids = self._read_json(job_id, kind)
        return None if ids is None else set(ids)

    def _save_ids(self, job_id: str, kind: str, object_ids: set[str]) -> None:
        self._write_json(job_id, kind, sorted(object_ids))

    def _remember(self, model_id: str, model: Any) -> None:
        self._models[model_id] = model
        self._models.move_to_end(model_id)
        while len(self._models) > 32:
            self._models.popitem(last=False)

    def _fit_lexicon(
        self,
        job_id: str,
        version: int,
        texts: list[str],
        labels: NDArray[np.int64],
        arch: nets.Arch,
        weights: NDArray[np.float64] | None,
    ) -> tuple[str, lexicon.Lexicon]:
        """Version `version`'s bag-of-words expert, fitted and saved; its key (path under models_dir)."""
        fitted = lexicon.fit(texts, labels, arch.n_classes, weights)
        key = f"{job_id}/v{version}.lexicon.npz"
        lexicon.save(self._settings.models_dir / key, fitted)
        self._remember_lexicon(key, fitted)
        return key, fitted

    def _lexicon(self, key: str) -> lexicon.Lexicon:
        found = self._lexicons.get(key)
        if found is None:
            try:
                found = lexicon.load(self._settings.models_dir / key)
            except FileNotFoundError as err:
                raise FailedPrecondition(
                    f"lexicon {key!r} of a model version is gone", reason="lexicon_gone"
                ) from err
        self._remember_lexicon(key, found)
        return found

    def _remember_lexicon(self, key: str, fitted: lexicon.Lexicon) -> None:
        self._lexicons[key] = fitted  # a few MB each: the latest versions only
        self._lexicons.move_to_end(key)
        while len(self._lexicons) > 8:
            self._lexicons.popitem(last=False)

    def _model(self, version: ModelVersion) -> Any:
        model = self._models.get(version.model_id)
        if model is None:
            _, model, _ = nets.load(self._settings.models_dir / version.weights_path, self.device)
            self._remember(version.model_id, model)
        return model

    # ----- predict / metrics --------------------------------------------------------------------------
    async def version(self, job_id: str, version: int = 0) -> ModelVersion:
        if not job_id:
            raise InvalidArgument("job_id is empty", reason="missing_job_id")
        if version < 0:
            raise InvalidArgument(f"version {version} must be >= 1 (0 = latest)", reason="version_invalid")
        found = await self._store.get(job_id, version or None)
        if found is None:
            if version:
                raise NotFound(f"job {job_id} has no model version {version}", reason="model_not_found")
            raise FailedPrecondition(
                f"job {job_id} has no trained model; call TrainModel first", reason="no_model"
            )
        return found

    async def predict(
        self,
        job_id: str,
        version: int,
        objects: list[InferenceObject],
        *,
        select_count: int = 0,
        labeled: list[InferenceObject] | None = None,
        pool_size: int = 0,
    ) -> ScoredPredictions:
        """Calibrated predictions; with `select_count`, also the indices of the objects (among those it may
        not auto-label) that humans should label next, kept away from `labeled` (`random`: those of them
        the job's record holds as random draws of the pool). `pool_size`: the pool's size when `objects` are
        a uniform sample of it (0: they are the whole pool); it sets the random draws' sampling rate."""
        mv = await self.version(job_id, version)
        modality = self._check_objects(objects)
        if modality != mv.modality:
            raise InvalidArgument(
                f"model version {mv.version} of job {job_id} takes {mv.modality} objects, got {modality}",
                reason="modality_mismatch",
            )
        if select_count < 0:
            raise InvalidArgument(f"select_count {select_count} must be >= 0", reason="select_count_invalid")
        if pool_size and pool_size < len(objects):
            raise InvalidArgument(
                f"pool_size {pool_size} is smaller than the {len(objects)} objects sent "
                "(0 = the objects are the pool)",
                reason="pool_size_invalid",
            )
        labeled = labeled or []
        if labeled and self._check_objects(labeled) != modality:
            raise InvalidArgument(
                f"labeled objects must be {modality} objects like the ones to score",
                reason="modality_mismatch",
            )
        key = ModelKey(job_id, mv.version)

        encoder = str(mv.arch.get("encoder", ""))
        lexicon_key = str(mv.arch.get("lexicon", ""))
        shape = mv.arch.get("input_shape", [])
        side = int(shape[1]) if modality == "image" and len(shape) == 3 else 0  # the side it was trained at

        def work() -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32] | None]:
            x = self._features(modality, objects, encoder, side)
            seen = self._features(modality, labeled, encoder, side) if select_count and labeled else None
            scores = self.backend.logits(key, self._model(mv), x)
            if lexicon_key:  # the version's bag-of-words expert, as at training
                scores = scores + self._lexicon(lexicon_key).log_probs([o.text for o in objects])
            return x, scores, seen

        x, logits, seen = await asyncio.to_thread(work)
        probs = apply_temperature(logits, mv.metrics.temperature)
        predicted = probs.argmax(axis=1)
        confidence = probs.max(axis=1)
        # A sample's share stands for the pool's.
        auto = auto_label_mask(predicted, confidence, mv.metrics.thresholds, mv.metrics.max_auto_share)
        selected: list[int] = []
        random: list[int] = []
        if select_count:
            pool = np.flatnonzero(~auto)
            flat = x.reshape(len(x), -1)
            # cross_fit: a share drawn at random (seeded by the pool) certifies later thresholds; the rest
            # are the most informative.
            n_random = 0
            if self._settings.calibration == "cross_fit":
                share = self._settings.finetune_random_share if encoder else self._settings.random_share
                uncertified = all(t.threshold is None for t in mv.metrics.thresholds)
                if uncertified and not self._read_json(job_id, "certified"):
                    share = self._settings.random_share_uncertified  # only draws can start the bound
                n_random = min(len(pool), int(round(share * select_count)))
            rng = np.random.default_rng([self._settings.seed, len(pool), len(labeled)])
            drawn = rng.permutation(len(pool))[:n_random]
            rest = np.setdiff1d(np.arange(len(pool)), drawn)
            picks = await asyncio.to_thread(
                select_informative,
                probs[pool[rest]],
                flat[pool[rest]],
                select_count - n_random,
                labelled_embeddings=None if seen is None else seen.reshape(len(seen), -1),
                seed=self._settings.seed,
            )
            selected = [int(pool[rest[i]]) for i in picks] + [int(pool[i]) for i in drawn]
            recorded: set[str] = set()
            if n_random:
                ids = {objects[int(pool[i])].object_id for i in drawn}

                total = pool_size or len(objects)
                left = total * len(pool) / len(objects)  # the pool's objects it may not machine-label

                def record() -> set[str]:
                    self._record_sampling(job_id, mv.version, n_random, left, total, len(labeled))
                    every = (self._ids(job_id, "drawn") or set()) | ids
                    self._save_ids(job_id, "drawn", every)
                    return every

                recorded = await asyncio.to_thread(record)
            # Every selected object the job's record holds as a random draw: this call's, and those of an
            # earlier call whose iteration was never committed (a retry after a crash or a timeout) that are
            # picked again now: they certify later thresholds too.
            random = [i for i in selected if objects[i].object_id in recorded]
        return ScoredPredictions(
            version=mv,
            probabilities=probs,
            predicted=predicted,
            confidence=confidence,
            auto_label=auto,
            selected=selected,
            random=random,
        )

    def close(self) -> None:
        self.backend.close()

"""Faster model start-up: build the TensorFlow models' weights eagerly instead of tracing a training step.

To restore a trained DIET, ResponseSelector or TED model, Rasa 3.6 (`RasaModel.load`) compiles it
and runs `fit` on one example, only so that Keras creates weights of the right shapes, then loads
the trained weights over them. That `fit` traces the whole training step into a TensorFlow graph:
about three quarters of our start-up time, for a graph that is thrown away. Running that single step
eagerly creates the same weights without tracing; computing that step's loss, without the optimizer,
is enough, and also leaves out the optimizer's two copies of every weight (never used to answer).
Everything after it is Rasa's own code: the trained weights are loaded, and prediction is traced and
compiled as before, so answers are identical
(tests/dialogue/test_fast_load.py compares them with a model loaded Rasa's way).
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Text

logger = logging.getLogger(__name__)

_ORIGINAL_LOAD = "_clinic_original_load"


def _load_with_eager_weight_building(cls: Any, model_file_name: Text, model_data_example: Any,
                                     predict_data_example: Optional[Any] = None, finetune_mode: bool = False,
                                     *args: Any, **kwargs: Any) -> Any:
    """`RasaModel.load`, with the weights built by one eager loss computation (same signature, same answers)."""
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    if finetune_mode:  # fine-tuning keeps Rasa's own path (it trains afterwards)
        return getattr(cls, _ORIGINAL_LOAD)(model_file_name, model_data_example, predict_data_example,
                                            finetune_mode, *args, **kwargs)
    model = cls(*args, **kwargs)
    batch_in, _ = RasaBatchDataGenerator(model_data_example, batch_size=1)[0]
    model._training = True
    model.batch_loss(tuple(tf.convert_to_tensor(part) for part in batch_in))  # eager: creates the weights
    model._training = None
    # The checkpoint also holds the optimizer's slots (twice the weights), which answering never uses.
    model.load_weights(model_file_name).expect_partial()
    model.run_eagerly = kwargs.get("config", {}).get(RUN_EAGERLY)  # prediction is traced, as in Rasa
    if predict_data_example:
        model.run_inference(predict_data_example)
    return model


def use_eager_weight_building() -> None:
    """Make `RasaModel.load` build weights eagerly (idempotent; affects this process only)."""
    from rasa.utils.tensorflow.models import RasaModel

    if hasattr(RasaModel, _ORIGINAL_LOAD):
        return
    setattr(RasaModel, _ORIGINAL_LOAD, RasaModel.__dict__["load"])
    RasaModel.load = classmethod(_load_with_eager_weight_building)
    logger.debug("TensorFlow models build their weights eagerly at load")

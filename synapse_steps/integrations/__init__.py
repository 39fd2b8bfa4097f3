"""Callbacks that stream a real training into a step's live view: one module per framework.

- ``integrations.ultralytics.attach(model, ctx)``: Ultralytics YOLO (extra ``yolo``);
- ``integrations.lightning.StepCallback(ctx)``: PyTorch Lightning (extra ``lightning``);
- ``integrations.keras.StepCallback(ctx)``: Keras 3, any backend (extra ``keras``);

(``pip install 'synapse-steps[yolo]'``..., or ``synapse-steps[ml]`` for all three).

All three report the same way, from inside a step (``ctx`` is the step's context):

- **progress per batch**, across epochs: the step's bar goes from 0 to 100 % over the whole
  training (one plain ``set_progress(batches_done, batches_total)`` per batch, the recorder's
  cheap path), so the live view shows an ETA;
- **metrics per epoch**: one ``set_metrics({..., 'epoch': n})`` after epoch ``n`` (1 for the
  first), training and validation values named so they share a plot (``loss`` / ``val_loss``,
  ``train/box_loss`` / ``val/box_loss``); ``every_n_batches=N`` adds the running values every
  ``N`` batches at fractional epochs (``1.25``), on the same lines;
- values that are not numbers are left out, and NaN or infinity are recorded as they are (a
  diverging loss shows as such): a metric never fails a training, nor does a callback error
  (one warning, then the callback stays quiet).

This package imports no framework; each module imports its own when it is imported (or, for
Ultralytics, when it is used) and raises ``MissingDependencyError`` naming the extra to install.
"""

"""Exports of what the run store holds, for the tools around the workbench.

One concept per module, each a function of a :class:`glaucoma_core.store.RunStore`:

- :mod:`.source`: which runs an export of ``run:N`` or ``exp:N`` is made of;
- :mod:`.mlflow_export`: an experiment as MLflow runs (parent + one nested run per fold);
- :mod:`.tensorboard_export`: each run's per-epoch scalars as TensorBoard event files;
- :mod:`.saved_model`: a run's model, or a fold ensemble, as a TensorFlow SavedModel
  (resize and preprocessing inside; :mod:`.pil_resize` is the exact resize);
- :mod:`.model_card`: a Markdown model card written beside it.

Importing this package imports neither TensorFlow nor MLflow.
"""

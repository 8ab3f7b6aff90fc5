"""Evaluation: pure functions of labels (1 = glaucoma) and P(glaucoma), no Streamlit.

Modules, one concept each:

* ``metrics``: confusion counts, sensitivity, specificity, AUC, sensitivity at fixed
  specificity, partial AUC, Brier... (``classification_metrics`` gives all at once);
* ``intervals``: DeLong (AUC), seeded stratified bootstrap, t-interval over folds;
* ``thresholds``: choose on validation (target sensitivity/specificity, Youden, max F1),
  apply to test; threshold sweeps;
* ``cv_summary``: per-fold table, mean +- sd with t-interval, pooled out-of-fold metrics;
* ``paired_tests``: DeLong paired test, McNemar exact, Nadeau-Bengio, Wilcoxon;
* ``evaluate`` / ``comparison``: stored predictions of a run or experiment -> reports;
* ``calibration``: reliability curve, expected calibration error;
* ``report``: scikit-learn-style classification report naming 'normal' and 'glaucoma';
* ``gradcam``: Grad-CAM heat maps and overlays (imports TensorFlow when called);
* ``ensemble``: the fold models' mean probability and spread for one image.

Importing this package imports nothing heavy.
"""

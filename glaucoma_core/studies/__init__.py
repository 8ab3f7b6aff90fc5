"""Studies: choose a model across many configurations, on validation only, and say how sure.

One concept per module:

- :mod:`space`: the search space over configuration fields (lists, ranges, log ranges);
- :mod:`selection`: the selection rule, which reads validation predictions only;
- :mod:`definition`: a study's definition (base config, space, rule, sampler, budget);
- :mod:`presets`: ready-made studies as data (``cpu-transfer-head``, ``paper-five``);
- :mod:`storage`: Optuna's SQLite storage in the workbench home, ``study:N`` references;
- :mod:`runner`: runs (and resumes) a study, one cross-validation experiment per trial;
- :mod:`leaderboard`: the report: leaderboard, Holm-corrected paired tests, estimates;
- :mod:`holm`: Holm's correction; :mod:`charts`: the study's Altair charts.
"""

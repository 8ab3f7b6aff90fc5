"""External validation, dataset shift, combined databases and shortcut control (issue 12).

Modules, one concept each (pure functions of tables; the workbench fetches and stores):

* ``properties``: the properties of each image that are not the disease (size, aspect, file
  size, brightness, colour, sharpness, dark border share: full field vs disc crop);
* ``shift``: two datasets' properties side by side and one domain-distance figure (how well a
  logistic regression tells them apart);
* ``baseline``: the metadata baseline of an experiment (what size, file size and colour alone
  reach on the same folds) and whether the experiment clearly beats it;
* ``predict``: the one function that turns image files into each fold model's P(glaucoma);
* ``validation``: fold-model and fold-ensemble figures on an external set at the experiment's
  own thresholds, internal vs external with the drop and its interval;
* ``sources``: the source database of each image of a combined dataset, and leave-one-source-out
  fold layouts;
* ``resolution``: bringing every image to one effective resolution (removes a size shortcut).

Importing this package imports nothing heavy.
"""

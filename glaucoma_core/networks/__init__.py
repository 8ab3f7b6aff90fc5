"""Networks: backbone registry, preprocessing layer, classifier builder, weights loading.

Importing this package does not import TensorFlow; import the submodules that need it.
"""

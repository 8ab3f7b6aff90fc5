"""Thin glue shared by the pages: the sidebar, cached loaders, pickers, small layout helpers.

No science here: metrics, thresholds, statistics and shortcut detection live in
:mod:`glaucoma_core`; this package only calls them, caches what they return and lays it out.
"""

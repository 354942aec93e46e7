"""A Caldicott guardian approval gate and a JSON-lines channel for qiflow.

qiflow loads :mod:`qiflow_caldicott.plugin` through the ``caldicott`` entry point.
"""

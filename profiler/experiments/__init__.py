"""Experiments on top of capture and workloads: the measurement ``protocol``, one
fresh-process ``runner``, and ``ab``, ``sweep``, ``quant`` and ``calibrate``, each with its
run, load and summarise steps."""

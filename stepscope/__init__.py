"""stepscope: where does a batch-1 decode step's time go?"""
__version__ = "0.1.0"

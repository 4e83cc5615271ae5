"""Reading the configuration file (:mod:`.load`), checking it across its fields
(:mod:`.checks`) and describing it (:mod:`.describe`); the models are :mod:`assay.config`.
"""

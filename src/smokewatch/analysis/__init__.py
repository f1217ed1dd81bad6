"""Who labels, and how good the labels are: the paper's Sections 3.3-3.4 as tools.

Reads exports only (the answers file of :mod:`smokewatch.core.answers`, RISE metadata of
:mod:`smokewatch.core.metadata`), never the service's database: an analysis runs the same on a
file mailed by another project as on this site's own export.
"""

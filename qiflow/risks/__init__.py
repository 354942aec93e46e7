"""A project's risk register: risks scored on the NHS 5 x 5 matrix, and the rules for them.

Trusts score a risk's consequence (1-5) and likelihood (1-5); the product is its
score, and the score's band (low, moderate, high, extreme) sets how often it is
reviewed. This package holds the register as immutable values, the matrix a
workflow file configures (its ``[risks]`` table), the rules for every edit (each
one an event in the project's audit trail), CSV import and the heat map. It reads
no database: the engine loads the values, asks here what an edit means, and
stores the events and what they leave.
"""

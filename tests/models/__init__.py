# A package, so that test modules named after skal/models' files (test_base.py)
# cannot clash with same-named test modules of other skal packages.

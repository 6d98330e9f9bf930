"""Data sets: FER-2013 (and its packed form), CK+, the synthetic default, subject folds, the audit."""

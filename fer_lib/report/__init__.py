"""From every model's predictions to the study's answers.

- :mod:`fer_lib.report.arms`: test sets, arms and their primary variants, headline accuracies.
- :mod:`fer_lib.report.paired_tests`: fold scores and sizes, fold-, seed- and sample-level paired tests.
- :mod:`fer_lib.report.claims`: the seed papers' claims next to what a run measures.
- :mod:`fer_lib.report.results`: the book's results page.
"""

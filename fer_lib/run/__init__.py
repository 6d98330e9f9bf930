"""Running the study: the notebook context, the pipeline (``fer-study``), publishing."""

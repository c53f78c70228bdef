"""The class report: one HTML page (``report``) and its figures (``figures``)."""

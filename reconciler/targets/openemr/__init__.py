"""The ``openemr`` target: OpenEMR 7's own tables, read and written as OpenEMR itself does."""

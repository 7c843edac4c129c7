"""The ``cnnsim`` command line (click). Parses, calls the library, prints or plots; no math."""

"""What the local store and the converters share: names, layout rules and safe publishing.

``constants`` (split names, image extensions), ``paths`` (the one "stays inside the root" check
and store detection), ``layout`` (the one DM v2 pairing rule), ``owner`` (which process owns a
temp folder), ``publish`` (staging, sweeping and atomic no-clobber publishing) and ``sqlite``
(how the store's index and the run journal open SQLite: WAL, busy timeout, ``BEGIN IMMEDIATE``).
"""

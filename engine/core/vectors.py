"""What each stored vector is, shared by the write path (indexing) and the read path (search).

Each vector carries a small integer kind beside its file id and time, so searches can filter without the
catalog; these are those kinds and the constants that say what a vector's ``t`` means.
"""

from __future__ import annotations

#: Vector kinds stored beside each vector.
KIND_PHOTO, KIND_FRAME, KIND_SOUND, KIND_SOUNDTRACK = 0, 1, 2, 3
#: Vector kind of the per-segment vectors of long sounds and soundtracks.
KIND_SOUND_SEGMENT = 4
#: ``t`` of whole-file vectors (a sound's clip vector), so a result never claims a moment it lacks.
WHOLE_FILE_T = -1.0
#: Length of one embedded sound segment, seconds (PANNs' training clips are 10 s).
SEGMENT_S = 10.0
#: About one video moment every this many seconds (plus scene changes).
VIDEO_INTERVAL_S = 2.0
#: Vector kind of transcript segments (MiniLM vectors of what was said, ``t`` = the segment's start).
KIND_SPEECH = 5

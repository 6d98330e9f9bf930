"""Label maps, split names and other named constants shared by the whole study.

Every allowed option of ``fer_lib`` lives in one constant here (or next to the
function that owns it), so that validation messages and docs cannot drift.
"""

from types import MappingProxyType

#: FER-2013 class names, indexed by the integer code of the ``emotion`` column.
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: The canonical FER-2013 splits, as spelled in the ``Usage`` column.
#: Protocol: train on Training, select on PublicTest, report once on PrivateTest.
FER2013_SPLITS = ("Training", "PublicTest", "PrivateTest")

#: Columns of the Kaggle FER-2013 CSV.
FER2013_COLUMNS = ("emotion", "pixels", "Usage")

#: FER-2013 image side in pixels (images are 48x48 grayscale, row-major).
FER2013_SIZE = 48

#: Folder names of the image-folder release of FER-2013 (``train/<class>/*.jpg``),
#: mapped to the integer codes of :data:`FER2013_CLASSES`.
FER2013_FOLDER_CLASSES = MappingProxyType(
    {"angry": 0, "disgust": 1, "fear": 2, "happy": 3, "sad": 4, "surprise": 5, "neutral": 6}
)

#: Folder names of the image-folder release mapped to the canonical splits.
#: That release merges PublicTest and PrivateTest into ``test``.
FER2013_FOLDER_SPLITS = MappingProxyType({"train": "Training", "test": "Test"})

#: CK+ emotion codes as written in the official ``Emotion/*_emotion.txt`` files.
#: (0 = neutral is defined by CK+ but never used as a sequence label.)
CKPLUS_CODES = MappingProxyType(
    {1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sadness", 7: "surprise"}
)

#: CK+ class names in code order; the label index used by models is the position here.
CKPLUS_CLASSES = tuple(CKPLUS_CODES[c] for c in sorted(CKPLUS_CODES))

#: The 6 basic-emotion CK+ classes (contempt removed), for the 6-class protocol.
CKPLUS_CLASSES_6 = tuple(c for c in CKPLUS_CLASSES if c != "contempt")

#: CK+ class name -> FER-2013 class name, for the classes both data sets share
#: (cross-data-set evaluation). Contempt has no FER-2013 counterpart.
CKPLUS_TO_FER2013 = MappingProxyType(
    {
        "anger": "angry",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "happy",
        "sadness": "sad",
        "surprise": "surprise",
    }
)

#: Side in pixels of the CK+48 face crops.
CKPLUS48_SIZE = 48

#: Number of frames per CK+48 clip (the last three frames of each sequence).
CKPLUS48_FRAMES_PER_CLIP = 3

#: Number of points in a CK+ ``Landmarks/*_landmarks.txt`` file (iBUG 68-point layout).
CKPLUS_N_LANDMARKS = 68

#: Default number of subject-independent folds for CK+.
CKPLUS_N_FOLDS = 10

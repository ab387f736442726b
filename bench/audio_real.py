"""Real speech and music for the audio benchmark, from Debian packages (nothing is downloaded).

- music: the three soundtracks of ``frozen-bubble-data`` (Ogg Vorbis, 3-5 minutes each,
  recorded band music with synthesisers, guitar and drums; GPL-2, by the Frozen-Bubble team), in
  ``/usr/share/games/frozen-bubble/snd``;
- speech: English read aloud by ``espeak-ng`` (GPL-3) in several voices, accents and speeds,
  from the paragraphs below (written for this benchmark): two paragraphs of its own per voice
  (about a minute). Unrelated speech is the last two paragraphs, which no reference reads, in
  the same voices: same speaker and language, other words.

Either part is left out, with a note, when its package is missing (the Makefile's bench apt
list installs both).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.common import ROOT

sys.path.insert(0, str(ROOT / "tests" / "media"))
import audio_synth as synth  # noqa: E402

Samples = npt.NDArray[np.float32]
MUSIC_DIR = Path("/usr/share/games/frozen-bubble/snd")
MUSIC_FILES = ("frozen-mainzik-1p.ogg", "frozen-mainzik-2p.ogg", "introzik.ogg")
_REF_PARAGRAPHS = 2  # paragraphs each voice reads for its reference (about a minute)
# (voice, words a minute): a spread of accents, pitches and rates.
VOICES = (("en-us", 150), ("en-gb-x-rp+f3", 170), ("en-gb-scotland+m3", 140))

PARAGRAPHS = (
    "The harbour wakes before the town does. Fishing boats come in on the grey tide, gulls "
    "circle over the crates, and the men who unload them talk about the weather, the price of "
    "diesel and the football on Saturday. By seven the cafe on the corner has its shutters up, "
    "and the smell of bread and coffee drifts along the quay. Tourists will not arrive for "
    "another two hours, so for now the place belongs to the people who work there.",
    "To repair a bicycle puncture, first take the wheel out of the frame and let out any air "
    "that is left. Lever one side of the tyre off the rim, pull out the inner tube and pump it "
    "up a little, then listen or feel for the leak. Roughen the rubber around the hole with "
    "sandpaper, spread a thin layer of glue and wait until it turns dull before pressing the "
    "patch on firmly. Check the inside of the tyre for thorns or glass before you refit it.",
    "Last winter the library moved into the old railway goods shed. The builders kept the iron "
    "columns and the long skylights, and put the children's books where the loading bay used "
    "to be. On weekday afternoons the reading tables are full of students, and on Sunday "
    "mornings a chess club meets under the station clock, which still runs four minutes slow, "
    "exactly as it did when the trains stopped here.",
    "Good evening. Heavy rain is expected across the north and west overnight, with gusts of "
    "up to seventy kilometres an hour on exposed coasts. Tomorrow will start wet but brighter "
    "weather should spread from the south by the middle of the day, although a few showers "
    "may linger in the hills. Temperatures will be close to normal for the time of year, "
    "reaching fourteen degrees in the sunniest places.",
    "The recipe is simpler than it looks. Soften an onion in olive oil, add two cloves of "
    "garlic and a spoonful of paprika, then tip in a tin of tomatoes and a tin of chickpeas. "
    "Let it bubble gently for twenty minutes, stirring now and then, and season it with salt, "
    "pepper and a squeeze of lemon. Crack four eggs into small hollows in the sauce, cover the "
    "pan and cook until the whites have just set.",
    "Astronomers have long wondered why some comets brighten suddenly far from the sun. One "
    "idea is that pockets of frozen gas beneath the surface warm slowly over many orbits until "
    "the crust above them cracks. The escaping gas carries dust with it, and the dust reflects "
    "sunlight, so the comet can appear many times brighter within a single night before fading "
    "again over the following weeks.",
    "Our meeting on Thursday will begin at half past nine in the small conference room on the "
    "second floor. Please read the draft budget beforehand and bring any questions about the "
    "travel costs, which have risen since the spring. After the break we will look at the "
    "timetable for the new warehouse and agree who will contact the suppliers. Lunch will be "
    "provided, so let the office know about any dietary requirements by Tuesday.",
    "My grandmother kept bees at the bottom of the orchard, in three white hives that she "
    "painted every other summer. She never wore gloves and claimed the bees knew her by her "
    "voice. In August we helped her carry the frames up to the kitchen, where the honey ran "
    "slowly out of the spinner into glass jars, and the whole house smelled of wax and clover "
    "for a week.",
)


def music(seconds: float) -> tuple[list[tuple[str, Samples]], str]:
    """The first ``seconds`` of each soundtrack, with a note of what was missing."""
    if not MUSIC_DIR.is_dir():
        return [], "real music absent (Debian package frozen-bubble-data not installed)"
    out = []
    for name in MUSIC_FILES:
        samples = synth.decode((MUSIC_DIR / name).read_bytes())
        out.append((f"real music/{Path(name).stem}", samples[: int(seconds * synth.RATE)]))
    return out, ""


def _read(paragraphs: tuple[str, ...], voice: str, wpm: int, seconds: float) -> Samples:
    """``paragraphs`` read in turn by ``voice`` until ``seconds`` of speech (or all of it)."""
    parts: list[Samples] = []
    total = 0
    for text in paragraphs:
        parts.append(synth.speech(text, voice=voice, speed=wpm))
        total += len(parts[-1])
        if total >= seconds * synth.RATE:
            break
    return np.concatenate(parts)[: int(seconds * synth.RATE)]


def speech(
    seconds: float, clip_seconds: float
) -> tuple[list[tuple[str, Samples]], list[tuple[str, Samples]], str]:
    """(references of up to ``seconds``, unrelated clips of ``clip_seconds``, note) by voice.

    Each voice reads ``_REF_PARAGRAPHS`` paragraphs of its own for its reference, and one of the
    last two, which no reference reads, for its unrelated clip: no two recordings say the same
    words. (Two espeak-ng voices reading the same words at a similar rate are nearly the same
    recording, and match: en-gb-x-rp+f3 and en+f2 did, at 47-57.)
    """
    if not synth.espeak_available():
        return [], [], "real speech absent (Debian package espeak-ng not installed)"
    refs, unrelated = [], []
    others = PARAGRAPHS[_REF_PARAGRAPHS * len(VOICES) :]
    for k, (voice, wpm) in enumerate(VOICES):
        own = PARAGRAPHS[_REF_PARAGRAPHS * k : _REF_PARAGRAPHS * (k + 1)]
        refs.append((f"real speech/{voice}", _read(own, voice, wpm, seconds)))
        other = others[k % len(others) :]
        unrelated.append(
            (f"real speech/{voice} (other text)", _read(other, voice, wpm, clip_seconds))
        )
    return refs, unrelated, ""

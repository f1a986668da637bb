"""Built-in vocabulary for negative ("other") words.

Common English words plus words that sound like a trigger. For "activate" the
near-misses matter most: a detector that fires on "activity" or "captivate" is
useless, so they are drawn more often than ordinary words (see synth.py).
"""
from __future__ import annotations

COMMON_WORDS: tuple[str, ...] = tuple("""
the be to of and a in that have it for not on with he as you do at this but his by from
they we say her she or an will my one all would there their what so up out if about who get
which go me when make can like time no just him know take people into year your good some
could them see other than then now look only come its over think also back after use two how
our work first well way even new want because any these give day most us is was are were
been has had did said made went came told found called asked seemed felt tried left kept
water house music paper window table garden kitchen morning evening yesterday tomorrow
weather summer winter number money family friend mother father brother sister children
question answer problem reason system program computer telephone message minute second
hour week month place country city street river mountain picture story letter office
school student teacher doctor market station road car train airplane bicycle coffee dinner
breakfast lunch chicken banana orange purple yellow green black white red blue happy
quickly slowly really always never often maybe perhaps almost together important different
possible beautiful interesting difficult simple little small large great long short high
open close start stop turn light play read write speak listen watch walk run sit stand
remember forget believe understand consider continue decide develop happen include provide
create change follow learn lead allow spend grow offer appear build stay fall reach remain
suggest raise pass sell require report return explain hope carry break receive agree
support hit produce eat cover catch draw choose cause point wait serve die send expect
""".split())

# Words that share sounds with "activate" (prefix, rhythm or ending). Words that contain
# the whole trigger ("deactivate", "activates") are left out: hearing them, a detector
# rightly fires, so labelling them negative would teach it noise.
ACTIVATE_NEAR_MISSES: tuple[str, ...] = (
    "activity", "active", "activation", "activist", "action", "actor", "actual",
    "actually", "captivate", "cultivate", "motivate",
    "attitude", "aggravate", "adequate", "accurate", "advocate", "elevate", "elevator",
    "navigate", "ventilate", "capture", "factor", "tractor", "practice", "cactus", "acting",
    "captive", "relative", "native", "creative", "estimate", "activeness", "collective",
)


def other_words_for(trigger: str, extra: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Negative vocabulary for a trigger word.

    Args:
        trigger: the trigger word (lower case).
        extra: additional near-miss words supplied by the user.

    Returns:
        (common words, near-miss words), both without the trigger itself or its
        inflections that would really be the trigger (e.g. "activate").
    """
    word = trigger.strip().lower()
    near = list(ACTIVATE_NEAR_MISSES) if word == "activate" else []
    near += [w.lower() for w in extra]
    common = [w for w in dict.fromkeys(COMMON_WORDS) if w != word]
    near = [w for w in dict.fromkeys(near) if w != word and w not in common]
    return common, near

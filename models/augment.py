"""Training-time text variants shared by the fast model (train.py) and the encoder (encoder/train.py).

Call-centre turns in the training data are spaced at the speaker's pauses ("就是 我那个转帐显示成功了
但是…"); many ASR engines return none. For the fast model a space is a clause break (negation scope,
last clause) and ends a bigram run, so a model that only saw spaced turns reads an unspaced one
differently: leave-files-out CV (groupcv.py's folds) on unspaced call-centre turns fell from 0.938 to
0.915. Training on both forms, each at half weight, gave 0.933 on unspaced turns with spaced ones
unchanged. Only whitespace next to a Chinese character is removed: "ATM 机" -> "ATM机", "app store"
stays.
"""
import re

CJK = "\u3400-\u9fff"
CJK_SPACE = re.compile(rf"(?<=[{CJK}])\s+|\s+(?=[{CJK}])")
PAUSE = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")
# Weight of a spaced item and of its unspaced copy in the fast model's training.
COPY_WEIGHT = 0.5


def unspaced(text):
    """`text` without the whitespace next to Chinese characters (ASR output without pauses)."""
    return CJK_SPACE.sub("", text)


def punctuated(text):
    """ASR with punctuation restored: pauses between Chinese characters as "，", a final "。" or "？"
    (evaluation only, groupcv.py: the models need no such copies)."""
    t = PAUSE.sub("，", text.strip())
    return t + ("？" if re.search(r"(吗|呢|么|吧)$", t) else "。")
